"""Expand a sweep config's parameter space into concrete parameter sets with stable ids."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

import numpy as np

from app.backtest.sweeps.config import ParamDistribution, ParamRange, Scalar, SweepConfig
from app.errors import ConfigError, InputError

__all__ = ["ParameterSet", "check_sweep_size", "count_sets", "expand_grid", "param_set_id"]

_MATERIALISE_LIMIT = 2_000_000
_ID_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""``json.dumps(..., sort_keys=True, separators=(",", ":"))`` built once (the same text)."""


@dataclass(frozen=True, slots=True)
class ParameterSet:
    """One point of the parameter space: swept values merged with the fixed ones."""

    set_id: str
    params: dict[str, Any]


def param_set_id(params: Mapping[str, Any]) -> str:
    """A short id that depends only on the parameter values (stable across runs and machines)."""
    text = _id_text(params)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


_SIMPLE_INF = math.inf


def _id_text(params: Mapping[str, Any]) -> str:
    """``json.dumps`` of the sorted parameters (``sort_keys``, compact separators).

    String keys with integer, finite float or string values (every grid's case) are written
    directly, the text the encoder gives (``int.__repr__``, ``float.__repr__``, an ASCII-escaped
    JSON string); anything else goes through the encoder.
    """
    parts = []
    for key, value in sorted(params.items()):
        cls = value.__class__
        if key.__class__ is not str:
            break
        if cls is int:
            parts.append(f"{_json_string(key)}:{int.__repr__(value)}")
        elif cls is float and -_SIMPLE_INF < value < _SIMPLE_INF:
            parts.append(f"{_json_string(key)}:{float.__repr__(value)}")
        elif cls is str:
            parts.append(f"{_json_string(key)}:{_json_string(value)}")
        else:
            break
    else:
        return "{" + ",".join(parts) + "}"
    return _ID_ENCODER.encode({k: _plain(v) for k, v in sorted(params.items())})


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value.is_integer():
        return value
    return value


def _values(spec: list[Scalar] | ParamRange | ParamDistribution) -> list[Scalar] | None:
    if isinstance(spec, ParamRange):
        return spec.values()
    if isinstance(spec, ParamDistribution):
        return None
    return list(spec)


def count_sets(config: SweepConfig) -> int:
    """How many parameter sets ``config`` asks for per symbol, computed without building any.

    A grid is the product of its value counts (before constraints); a random search is its
    ``samples`` (at most the grid size when every parameter is discrete).
    """
    return _count_without_materialising(config)


def check_sweep_size(config: SweepConfig, max_sets: int) -> int:
    """Refuse a sweep above ``max_sets`` runs (sets x symbols) before anything is built.

    Returns the run count. Raises:
        InputError: the count and the limit (``SWEEP_MAX_SETS``).
    """
    per_symbol = _count_without_materialising(config)
    total = per_symbol * len(config.symbols)
    if total > max_sets:
        raise InputError(
            f"sweep {config.name!r} asks for {total:,} runs ({per_symbol:,} parameter sets x "
            f"{len(config.symbols)} symbols); the limit is {max_sets:,} (SWEEP_MAX_SETS)"
        )
    return total


def _count_without_materialising(config: SweepConfig) -> int:
    counts: list[int] = []
    discrete = True
    for spec in config.params.values():
        if isinstance(spec, ParamRange):
            counts.append(math.floor((spec.max - spec.min) / spec.step + 1e-9) + 1)
        elif isinstance(spec, ParamDistribution):
            discrete = False
        else:
            counts.append(len(spec))
    grid = math.prod(counts) if counts else 1
    if config.search.method == "grid":
        return grid
    samples = config.search.samples or 1
    return min(samples, grid) if discrete else samples


def expand_grid(config: SweepConfig) -> list[ParameterSet]:
    """Return the parameter sets of ``config`` (grid or random draw), constraints applied, deduplicated.

    Raises:
        ConfigError: no parameter set satisfies the constraints.
    """
    checks = config.constraint_checks()
    names = list(config.params)
    lists = {name: _values(spec) for name, spec in config.params.items()}

    def accepted(params: dict[str, Any]) -> bool:
        return all(check(params) for check in checks)

    def combos() -> Iterator[dict[str, Any]]:
        product_lists = [lists[name] or [] for name in names]
        fixed = config.fixed_params
        for values in itertools.product(*product_lists):
            # the fixed values first, then the swept ones (a swept name keeps its place)
            params = dict(fixed)
            params.update(zip(names, values, strict=True))
            for check in checks:
                if not check(params):
                    break
            else:
                yield params

    chosen: list[dict[str, Any]]
    if config.search.method == "grid":
        chosen = list(combos())
    else:
        chosen = _random_sets(config, names, lists, accepted)
    if not chosen:
        raise ConfigError(f"sweep {config.name!r}: no parameter set satisfies the constraints")
    seen: set[str] = set()
    out: list[ParameterSet] = []
    for params in chosen:
        set_id = param_set_id(params)
        if set_id not in seen:
            seen.add(set_id)
            out.append(ParameterSet(set_id, params))
    return out


def _random_sets(
    config: SweepConfig,
    names: list[str],
    lists: dict[str, list[Scalar] | None],
    accepted: Any,
) -> list[dict[str, Any]]:
    samples = config.search.samples or 1
    rng = np.random.default_rng(config.search.seed)
    discrete = all(v is not None for v in lists.values())
    size = math.prod(len(v or []) for v in lists.values()) if discrete else None
    if discrete and size is not None and size <= _MATERIALISE_LIMIT:
        pool = [
            {**config.fixed_params, **dict(zip(names, values, strict=True))}
            for values in itertools.product(*[lists[n] or [] for n in names])
        ]
        pool = [p for p in pool if accepted(p)]
        if samples >= len(pool):
            return pool
        picks = rng.choice(len(pool), size=samples, replace=False)
        return [pool[int(i)] for i in sorted(picks)]
    out: dict[str, dict[str, Any]] = {}
    attempts = 0
    while len(out) < samples and attempts < samples * 100:
        attempts += 1
        params = dict(config.fixed_params)
        for name in names:
            params[name] = _draw(rng, config.params[name], lists[name])
        if accepted(params):
            out.setdefault(param_set_id(params), params)
    return list(out.values())


def _draw(rng: np.random.Generator, spec: Any, values: list[Scalar] | None) -> Any:
    if values is not None:
        return values[int(rng.integers(len(values)))]
    assert isinstance(spec, ParamDistribution)
    if spec.dist == "int":
        return int(rng.integers(int(spec.low), int(spec.high) + 1))
    if spec.dist == "uniform":
        return float(rng.uniform(spec.low, spec.high))
    return float(math.exp(rng.uniform(math.log(spec.low), math.log(spec.high))))
