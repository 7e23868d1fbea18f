"""Sweep configs: validation with line-numbered errors, overrides, and the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.backtest.sweeps import expand_grid, load_sweep_config, parse_sweep_config
from app.errors import ConfigError
from app.strategies import get_strategy

REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted((REPO / "configs" / "backtest").glob("*.yaml"))

VALID = """\
name: demo
symbols: [goog]
vendor: sample
start: 2010-01-04
end: 2012-12-31
strategy: sma_cross
params:
  fast: [5, 10]
  slow: {min: 20, max: 40, step: 10}
constraints: ["fast < slow"]
objective: {metric: sharpe}
"""


def test_valid_config_parses_with_defaults_and_upper_case_symbols() -> None:
    config = parse_sweep_config(VALID)
    assert config.symbols == ["GOOG"]
    assert config.interval == "1Day"
    assert config.risk.agent == "all_in"
    assert config.objective.maximize is True
    assert config.params["slow"].values() == [20, 30, 40]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("replace", "by", "line", "fragment"),
    [
        ("objective: {metric: sharpe}", "objective: {metric: sharp}", 11, "unknown metric 'sharp'"),
        (
            "  slow: {min: 20, max: 40, step: 10}",
            "  slow: {min: 20, max: 10}",
            9,
            "max (10) is below min (20)",
        ),
        ("end: 2012-12-31", "end: 2009-12-31", 1, "end (2009-12-31) is before start"),
        ("vendor: sample", "vendor: sample\ncolour: red", 4, "colour: Extra inputs are not permitted"),
        ('constraints: ["fast < slow"]', 'constraints: ["fast < slower"]', 1, "unknown parameter 'slower'"),
        ("symbols: [goog]", "symbols: []", 2, "symbols"),
    ],
)
def test_errors_name_the_yaml_line(replace: str, by: str, line: int, fragment: str) -> None:
    text = VALID.replace(replace, by)
    with pytest.raises(ConfigError) as info:
        parse_sweep_config(text, "demo.yaml")
    message = str(info.value)
    assert f"demo.yaml:{line}:" in message
    assert fragment in message


def test_yaml_syntax_error_has_a_position() -> None:
    with pytest.raises(ConfigError, match=r"bad\.yaml:3:\d+: YAML syntax"):
        parse_sweep_config("name: x\nsymbols: [A\nstrategy: [", "bad.yaml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sweep config not found"):
        load_sweep_config(tmp_path / "nope.yaml")


def test_overrides_replace_strategy_and_symbol() -> None:
    config = parse_sweep_config(VALID, symbol="aapl")
    assert config.symbols == ["AAPL"]
    changed = config.with_overrides(
        strategy="momentum", symbol="msft", params={"lookback": [3, 5]}, constraints=[]
    )
    assert (changed.strategy, changed.symbols, list(changed.params)) == ("momentum", ["MSFT"], ["lookback"])
    with pytest.raises(ConfigError, match="overrides"):
        config.with_overrides(initial_cash=-1)


def test_distributions_need_random_search() -> None:
    text = VALID.replace("  fast: [5, 10]", "  fast: {dist: int, low: 2, high: 9}")
    with pytest.raises(ConfigError, match=r"need search\.method: random"):
        parse_sweep_config(text)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_are_valid_offline_and_every_set_builds(path: Path) -> None:
    config = load_sweep_config(path)
    assert config.vendor in ("sample", "synthetic")
    sets = expand_grid(config)
    assert sets
    for item in sets:
        get_strategy(config.strategy, item.params)


def test_the_spec_config_and_the_benchmark_grid_ship() -> None:
    names = {p.name for p in SHIPPED}
    assert {
        "momentum_sweep.yaml",
        "sma_cross_sweep.yaml",
        "mean_reversion_sweep.yaml",
        "breakout_sweep.yaml",
    } <= names
    assert len(expand_grid(load_sweep_config(REPO / "configs/backtest/sma_cross_sweep.yaml"))) == 3230


@pytest.mark.parametrize(
    ("spec", "where", "fragment"),
    [
        ("{min: a, max: 3}", "7:15", "params.fast.min: Input should be a valid number"),
        ("5", "7:9", "params.fast: expected a list of values, {min, max, step} or {dist, low, high}"),
        ("{dist: int, low: 1}", "7:9", "params.fast.high: Field required"),
    ],
)
def test_parameter_spec_errors_point_at_the_value(spec: str, where: str, fragment: str) -> None:
    head = "name: x\nsymbols: [A]\nstart: 2020-01-01\nend: 2020-02-01\nstrategy: sma_cross\n"
    text = f"{head}params:\n  fast: {spec}\n"
    with pytest.raises(ConfigError) as info:
        parse_sweep_config(text, "x.yaml")
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 1
    assert lines[0].strip().startswith(f"x.yaml:{where}: {fragment}")
