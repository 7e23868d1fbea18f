"""Sweep configuration: the YAML file under ``configs/backtest/`` and its validated model.

A sweep config names the data (symbols, date range, vendor, interval), the strategy, a
parameter space, the risk agent, costs and the metric that ranks the runs::

    name: momentum_sweep
    symbols: [GOOG]
    vendor: sample
    interval: 1Day
    start: 2010-01-04
    end: 2013-12-31
    strategy: momentum
    params:
      lookback: [10, 20, 40]          # a list of values
      threshold: {min: 0.0, max: 0.02, step: 0.005}   # an inclusive range
    constraints: []                   # e.g. ["fast < slow"]
    search: {method: grid}            # or {method: random, samples: 200, seed: 7}
    risk: {agent: fractional_kelly, fraction: 0.4, regime_aware: true, use_probabilistic: true}
    costs: {commission: 0.001, slippage_bps: 2}
    objective: {metric: sharpe, direction: maximize}

Errors name the file, the line and the column of the offending YAML node.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from app.errors import ConfigError

if TYPE_CHECKING:
    from app.storage.blob import BlobStore

__all__ = [
    "METRICS",
    "CostConfig",
    "ExecutionConfig",
    "ObjectiveConfig",
    "ParamDistribution",
    "ParamRange",
    "PromotionConfig",
    "RiskConfig",
    "SearchConfig",
    "SweepConfig",
    "WalkForwardConfig",
    "load_job_config",
    "load_sweep_config",
    "parse_sweep_config",
]

METRICS: dict[str, Literal["maximize", "minimize"]] = {
    "total_return": "maximize",
    "cagr": "maximize",
    "sharpe": "maximize",
    "sortino": "maximize",
    "max_drawdown": "maximize",
    "win_rate": "maximize",
    "exposure": "maximize",
    "num_trades": "maximize",
    "final_equity": "maximize",
}
"""Metrics a sweep can rank by, with their natural direction (max_drawdown is <= 0)."""

Scalar = int | float | str | bool

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|==|!=|<|>)\s*([A-Za-z_]\w*|-?\d+(?:\.\d+)?)\s*$")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ParamRange(_Strict):
    """Evenly spaced values from ``min`` to ``max`` inclusive."""

    min: float
    max: float
    step: Annotated[float, Field(gt=0)] = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if self.max < self.min:
            raise ValueError(f"max ({self.max:g}) is below min ({self.min:g})")
        if (self.max - self.min) / self.step > 1_000_000:
            raise ValueError("range has more than 1,000,000 values")
        return self

    @property
    def is_integer(self) -> bool:
        return all(float(v).is_integer() for v in (self.min, self.max, self.step))

    def values(self) -> list[Scalar]:
        count = math.floor((self.max - self.min) / self.step + 1e-9) + 1
        if self.is_integer:
            return [int(self.min) + i * int(self.step) for i in range(count)]
        return [round(self.min + i * self.step, 12) for i in range(count)]


class ParamDistribution(_Strict):
    """A distribution sampled by random search: ``int`` and ``uniform`` on [low, high], or log-uniform."""

    dist: Literal["int", "uniform", "log_uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> ParamDistribution:
        if self.high < self.low:
            raise ValueError(f"high ({self.high:g}) is below low ({self.low:g})")
        if self.dist == "log_uniform" and self.low <= 0:
            raise ValueError("log_uniform needs low > 0")
        return self


def _param_kind(value: Any) -> str | None:
    if isinstance(value, ParamRange):
        return "<range>"
    if isinstance(value, ParamDistribution):
        return "<distribution>"
    if isinstance(value, list):
        return "<list>"
    if isinstance(value, dict):
        return "<distribution>" if "dist" in value else "<range>"
    return None


ParamSpec = Annotated[
    Annotated[Annotated[list[Scalar], Field(min_length=1)], Tag("<list>")]
    | Annotated[ParamRange, Tag("<range>")]
    | Annotated[ParamDistribution, Tag("<distribution>")],
    Discriminator(
        _param_kind,
        custom_error_type="param_spec",
        custom_error_message="expected a list of values, {min, max, step} or {dist, low, high}",
    ),
]


class SearchConfig(_Strict):
    """``grid`` evaluates every combination; ``random`` draws ``samples`` of them with ``seed``."""

    method: Literal["grid", "random"] = "grid"
    samples: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _samples(self) -> SearchConfig:
        if self.method == "random" and self.samples is None:
            raise ValueError("random search needs samples")
        return self


class RiskConfig(_Strict):
    """Sizing for every run: the risk agent, its fraction cap and regime-aware scaling."""

    agent: Literal["fractional_kelly", "fixed_fraction", "all_in"] = "all_in"
    fraction: Annotated[float, Field(gt=0, le=1)] = 1.0
    regime_aware: bool = False
    use_probabilistic: bool = False


class CostConfig(_Strict):
    """Commission as a fraction of traded notional (each side) and slippage in basis points."""

    commission: Annotated[float, Field(ge=0, lt=0.1)] = 0.0
    slippage_bps: Annotated[float, Field(ge=0, lt=1000)] = 0.0


class ObjectiveConfig(_Strict):
    """The metric the leaderboard ranks by; ``direction`` defaults to the metric's natural one."""

    metric: str = "sharpe"
    direction: Literal["maximize", "minimize"] | None = None

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; one of {', '.join(sorted(METRICS))}")
        return value

    @property
    def maximize(self) -> bool:
        return (self.direction or METRICS[self.metric]) == "maximize"


class ExecutionConfig(_Strict):
    """Where parameter sets run: ``auto`` is Ray when RAY_ADDRESS is set, else local."""

    backend: Literal["auto", "local", "process", "ray"] = "auto"
    workers: Annotated[int, Field(ge=1, le=512)] | None = None
    chunk_size: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Sets per chunk (results are saved per chunk); default: chosen per backend."
    )


class WalkForwardConfig(_Strict):
    """Walk-forward validation: choose on each train window, score on the next test window."""

    folds: Annotated[int, Field(ge=1, le=50)] = 5
    train_bars: Annotated[int, Field(ge=20, le=1_000_000)]
    test_bars: Annotated[int, Field(ge=2, le=1_000_000)] | None = Field(
        default=None, description="Bars per test window (default: equal shares after the first train window)."
    )
    layout: Literal["rolling", "anchored"] = "rolling"
    gap: Annotated[int, Field(ge=0, le=10_000)] = 0


class PromotionConfig(_Strict):
    """When a sweep's best set is ``promotable`` (its numbers are recorded either way)."""

    min_oos_deflated_sharpe: Annotated[float, Field(ge=0, lt=1)] = 0.95
    pbo_splits: Annotated[int, Field(ge=2, le=20)] = 16
    max_return_cells: Annotated[int, Field(ge=1_000, le=100_000_000)] = 25_000_000
    """Bound on sets x bars of the per-set return matrix the statistics need (memory)."""

    @field_validator("pbo_splits")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"pbo_splits must be even, got {value}")
        return value


class SweepConfig(_Strict):
    """A validated sweep: data, strategy, parameter space, sizing, costs, objective."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
    symbols: Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(min_length=1)]
    vendor: str = "synthetic"
    interval: Literal["1Min", "5Min", "15Min", "30Min", "1Hour", "1Day"] = "1Day"
    start: date
    end: date
    data_path: str | None = Field(default=None, description="CSV or parquet file for vendor 'file'.")
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    fixed_params: dict[str, Scalar] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    search: SearchConfig = SearchConfig()
    risk: RiskConfig = RiskConfig()
    costs: CostConfig = CostConfig()
    fill: Literal["next_open", "close"] = "next_open"
    allow_short: bool = False
    initial_cash: Annotated[float, Field(gt=0)] = 100_000.0
    objective: ObjectiveConfig = ObjectiveConfig()
    execution: ExecutionConfig = ExecutionConfig()
    leaderboard_size: Annotated[int, Field(ge=1)] | None = None
    walk_forward: WalkForwardConfig | None = None
    promotion: PromotionConfig = PromotionConfig()

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        out = [s.strip().upper() for s in value]
        if len(set(out)) != len(out):
            raise ValueError("symbols repeat")
        return out

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, value: list[str]) -> list[str]:
        for text in value:
            if not _CONSTRAINT.match(text):
                raise ValueError(f"constraint {text!r} is not of the form 'a < b' (ops < <= > >= == !=)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> SweepConfig:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        overlap = set(self.params) & set(self.fixed_params)
        if overlap:
            raise ValueError(f"parameters both swept and fixed: {', '.join(sorted(overlap))}")
        known = set(self.params) | set(self.fixed_params)
        for text in self.constraints:
            match = _CONSTRAINT.match(text)
            assert match is not None
            for side in (match.group(1), match.group(3)):
                if (side[0].isalpha() or side[0] == "_") and side not in known:
                    raise ValueError(f"constraint {text!r} names unknown parameter {side!r}")
        if self.search.method == "grid" and any(
            isinstance(spec, ParamDistribution) for spec in self.params.values()
        ):
            raise ValueError("distributions ({dist, low, high}) need search.method: random")
        return self

    def constraint_checks(self) -> list[Callable[[Mapping[str, Any]], bool]]:
        """One predicate per constraint, taking a parameter set."""
        checks: list[Callable[[Mapping[str, Any]], bool]] = []
        for text in self.constraints:
            match = _CONSTRAINT.match(text)
            assert match is not None
            left, op, right = match.group(1), _OPERATORS[match.group(2)], match.group(3)
            checks.append(_make_check(left, op, right))
        return checks

    def with_overrides(self, **overrides: Any) -> SweepConfig:
        """Return a re-validated copy with ``strategy`` / ``symbol`` / other fields replaced."""
        data = self.model_dump(mode="json")
        for key, value in overrides.items():
            if value is None:
                continue
            if key == "symbol":
                data["symbols"] = [value]
            else:
                data[key] = value
        try:
            return SweepConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_format_errors(exc, None, "overrides")) from None


def _make_check(left: str, op: Callable[[Any, Any], bool], right: str) -> Callable[[Mapping[str, Any]], bool]:
    is_name = right[0].isalpha() or right[0] == "_"
    constant = None if is_name else float(right)

    def check(params: Mapping[str, Any]) -> bool:
        other = params[right] if is_name else constant
        return bool(op(params[left], other))

    return check


# --- YAML loading with node positions --------------------------------------------------------


def _node_for(root: yaml.Node | None, loc: Sequence[int | str]) -> yaml.Node | None:
    """Walk the composed YAML tree along a pydantic error location; stop at the deepest match."""
    node = root
    for part in loc:
        if isinstance(part, str) and part.startswith("<"):
            continue  # a union tag, not a YAML key
        if isinstance(node, yaml.MappingNode):
            child = next(
                (
                    value
                    for key, value in node.value
                    if isinstance(key, yaml.ScalarNode) and key.value == part
                ),
                None,
            )
            if child is None:
                return node
            node = child
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        elif isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            continue
        else:
            return node
    return node


def _readable_loc(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part.startswith("<") or "[" in part or part in ("int", "float", "str", "bool"):
            continue
        else:
            parts.append(f".{part}" if parts else part)
    return "".join(parts) or "config"


def _format_errors(exc: ValidationError, root: yaml.Node | None, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        message = err["msg"].removeprefix("Value error, ")
        node = _node_for(root, loc) if root is not None else None
        where = f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}" if node else source
        lines.append(f"{where}: {_readable_loc(loc)}: {message}")
    return "invalid sweep config:\n  " + "\n  ".join(lines)


def parse_sweep_config(text: str, source: str = "<string>", **overrides: Any) -> SweepConfig:
    """Validate YAML text as a :class:`SweepConfig`; ``overrides`` replace top-level keys.

    Raises:
        ConfigError: YAML syntax errors and every validation error, each with line and column.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid sweep config: {where}: YAML syntax: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"invalid sweep config: {source}: expected a mapping at the top level")
    if "name" not in data:
        data["name"] = Path(source).stem if source != "<string>" else "sweep"
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "symbol":
            data["symbols"] = [value]
        else:
            data[key] = value
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, root, source)) from None


def load_sweep_config(path: str | Path, **overrides: Any) -> SweepConfig:
    """Read and validate a sweep YAML file.

    Raises:
        ConfigError: the file is missing or unreadable, or invalid (with line numbers).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"sweep config not found: {file}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read sweep config {file}: {exc}") from None
    return parse_sweep_config(text, str(file), **overrides)


def load_job_config(
    blob: BlobStore | None,
    *,
    config_path: str | Path | None = None,
    config_blob: str | None = None,
    **overrides: Any,
) -> SweepConfig:
    """Load a sweep config from a ``blob://container/key`` URI (preferred when given) or a file path.

    Raises:
        ConfigError: no source, a missing file or an invalid config (line-numbered).
        NotFoundError: the blob does not exist.
    """
    if config_blob:
        from app.storage.blob import parse_blob_uri

        if blob is None:
            raise ConfigError(f"{config_blob} needs a blob store")
        container, key = parse_blob_uri(config_blob)
        return parse_sweep_config(blob.get_text(container, key), config_blob, **overrides)
    if config_path is None:
        raise ConfigError("no sweep config: set SWEEP_CONFIG_PATH or SWEEP_CONFIG_BLOB")
    return load_sweep_config(config_path, **overrides)
