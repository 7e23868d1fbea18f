"""Parameter grids: ranges, constraints, random draws and stable set ids."""

from __future__ import annotations

import pytest

from app.backtest.sweeps import expand_grid, param_set_id, parse_sweep_config
from app.errors import ConfigError

HEAD = "name: g\nsymbols: [X]\nstart: 2020-01-01\nend: 2020-12-31\nstrategy: sma_cross\n"


def test_sma_benchmark_grid_has_3230_sets() -> None:
    config = parse_sweep_config(
        HEAD
        + "params:\n  fast: {min: 5, max: 49}\n  slow: {min: 10, max: 99}\nconstraints: ['fast < slow']\n"
    )
    sets = expand_grid(config)
    assert len(sets) == 3230
    assert all(s.params["fast"] < s.params["slow"] for s in sets)
    assert len({s.set_id for s in sets}) == 3230


def test_float_ranges_and_fixed_params() -> None:
    config = parse_sweep_config(
        HEAD.replace("sma_cross", "momentum")
        + "params:\n  threshold: {min: 0.0, max: 0.03, step: 0.01}\nfixed_params: {lookback: 7}\n"
    )
    sets = expand_grid(config)
    assert [s.params for s in sets] == [{"lookback": 7, "threshold": t} for t in (0.0, 0.01, 0.02, 0.03)]


def test_random_search_is_seeded_and_respects_constraints() -> None:
    text = (
        HEAD
        + "params:\n  fast: {min: 2, max: 60}\n  slow: {min: 3, max: 120}\nconstraints: ['fast < slow']\n"
        + "search: {method: random, samples: 50, seed: 3}\n"
    )
    first = expand_grid(parse_sweep_config(text))
    again = expand_grid(parse_sweep_config(text))
    other = expand_grid(parse_sweep_config(text.replace("seed: 3", "seed: 4")))
    assert [s.set_id for s in first] == [s.set_id for s in again]
    assert [s.set_id for s in first] != [s.set_id for s in other]
    assert len(first) == 50
    assert all(s.params["fast"] < s.params["slow"] for s in first)


def test_random_search_over_distributions() -> None:
    text = (
        HEAD.replace("sma_cross", "mean_reversion")
        + "params:\n  window: {dist: int, low: 5, high: 30}\n"
        + "  entry_z: {dist: log_uniform, low: 0.5, high: 3}\n"
        + "search: {method: random, samples: 20, seed: 1}\n"
    )
    sets = expand_grid(parse_sweep_config(text))
    assert len(sets) == 20
    assert all(5 <= s.params["window"] <= 30 and 0.5 <= s.params["entry_z"] <= 3 for s in sets)
    assert all(isinstance(s.params["window"], int) for s in sets)


def test_no_set_left_is_a_config_error() -> None:
    config = parse_sweep_config(HEAD + "params:\n  fast: [50]\n  slow: [10]\nconstraints: ['fast < slow']\n")
    with pytest.raises(ConfigError, match="no parameter set"):
        expand_grid(config)


def test_set_id_depends_only_on_values() -> None:
    assert param_set_id({"a": 1, "b": 2.5}) == param_set_id({"b": 2.5, "a": 1})
    assert param_set_id({"a": 1}) != param_set_id({"a": 2})
