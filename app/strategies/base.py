"""The strategy interface and typed, validated parameters.

A strategy is a frozen object built from a parameter mapping. It turns bars (plus the
signals and regimes of :mod:`app.decision`, which it may ignore) into one target position
per bar: ``+1.0`` long, ``0.0`` flat, ``-1.0`` short, decided on bar ``t``'s close from data
at or before ``t``. Strategies always emit both sides; whether shorts are allowed is the risk
layer's decision (:class:`app.risk.sizing.RiskConfig.allow_short`).

A strategy may also declare a batch (sweep) kernel, :attr:`Strategy.batch`: a
:class:`BatchKernel` whose compiled per-set target function the sweep calls for many
parameter sets (one array per parameter column, :meth:`Strategy.param_columns`) inside one
parallel loop that also sizes and simulates; without one, sweeps run the decision pipeline
per set.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numba import types as nb_types

from app.errors import InputError

__all__ = [
    "SET_TARGET_SIGNATURE",
    "BarArrays",
    "BatchInputs",
    "BatchKernel",
    "Strategy",
    "close_array",
    "coerce_param",
    "column_array",
    "param_dtype",
    "stack_columns",
]


class BarArrays:
    """Float64 column arrays of a bar frame, extracted once and on first use.

    Pulling a column out of a DataFrame costs microseconds of pandas overhead each time;
    a strategy and the engine that both read ``close`` share one extraction through this
    wrapper. Build it with :meth:`of`, which passes an existing ``BarArrays`` through.
    """

    __slots__ = ("_cache", "frame")

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, bars: pd.DataFrame | BarArrays) -> BarArrays:
        """Wrap ``bars`` (or return it unchanged if it is already wrapped)."""
        return bars if isinstance(bars, BarArrays) else cls(bars)

    @classmethod
    def with_columns(cls, frame: pd.DataFrame, columns: Mapping[str, np.ndarray]) -> BarArrays:
        """Wrap ``frame`` whose ``columns`` were already extracted (contiguous float64 arrays)."""
        arrays = cls(frame)
        for name, values in columns.items():
            if values.dtype != np.float64 or not values.flags["C_CONTIGUOUS"] or len(values) != len(frame):
                raise InputError(f"column {name!r} is not a contiguous float64 array of {len(frame)} values")
            arrays._cache[name] = values
        return arrays

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def index(self) -> pd.Index:
        return self.frame.index

    def column(self, name: str) -> np.ndarray:
        """Return column ``name`` as a contiguous float64 array (cached).

        Raises:
            InputError: the frame has no such column.
        """
        found = self._cache.get(name)
        if found is None:
            if name not in self.frame.columns:
                columns = ", ".join(map(str, self.frame.columns))
                raise InputError(f"bars have no {name!r} column (columns: {columns})")
            found = np.ascontiguousarray(self.frame[name].to_numpy(dtype=np.float64))
            self._cache[name] = found
        return found


def column_array(bars: pd.DataFrame | BarArrays, name: str) -> np.ndarray:
    """Return ``bars[name]`` as a contiguous float64 array, or raise InputError naming the column."""
    return BarArrays.of(bars).column(name)


def close_array(bars: pd.DataFrame | BarArrays) -> np.ndarray:
    """Return the close prices of ``bars`` as a contiguous float64 array."""
    return column_array(bars, "close")


MAX_INT_PARAM = 1_000_000
"""Largest magnitude of an integer parameter (window lengths, lookbacks ...)."""


def param_dtype(kind: Any) -> type[np.generic]:
    """The column dtype of a parameter annotated ``kind`` (``int`` -> int64, ``float`` -> float64)."""
    if kind in (int, "int"):
        return np.int64
    if kind in (float, "float"):
        return np.float64
    raise TypeError(f"unsupported parameter type {kind!r}")


_READ_1D = nb_types.Array(nb_types.float64, 1, "C", readonly=True)
SET_TARGET_SIGNATURE = nb_types.void(
    nb_types.int64,
    _READ_1D,
    _READ_1D,
    _READ_1D,
    _READ_1D,
    nb_types.Array(nb_types.float64, 3, "C", readonly=True),
    nb_types.Array(nb_types.int64, 2, "C", readonly=True),
    nb_types.Array(nb_types.float64, 2, "C", readonly=True),
    nb_types.float64[::1],
)
"""Numba signature of a batch kernel's per-set target function:
``(i, open, high, low, close, tables, ints, floats, out) -> None``; every input is read-only,
``out`` (one float64 per bar) is written."""


@dataclasses.dataclass(frozen=True, slots=True)
class BatchInputs:
    """What a batch kernel's target function reads besides the bars.

    Attributes:
        tables: float64 ``(k, rows, bars)``: per-bar series shared by many sets (e.g. one
            rolling mean per distinct window), computed once per evaluation.
        ints: int64 ``(sets, a)``: set ``i``'s integer inputs in row ``i``.
        floats: float64 ``(sets, b)``: set ``i``'s real inputs in row ``i``.
    """

    tables: np.ndarray
    ints: np.ndarray
    floats: np.ndarray

    def __post_init__(self) -> None:
        for name, value, ndim, dtype in (
            ("tables", self.tables, 3, np.float64),
            ("ints", self.ints, 2, np.int64),
            ("floats", self.floats, 2, np.float64),
        ):
            if not isinstance(value, np.ndarray) or value.ndim != ndim or value.dtype != dtype:
                raise InputError(f"batch inputs: {name} must be a {ndim}-d {np.dtype(dtype).name} array")
            if not value.flags["C_CONTIGUOUS"]:
                raise InputError(f"batch inputs: {name} must be C-contiguous")
        if self.ints.shape[0] != self.floats.shape[0]:
            raise InputError(
                f"batch inputs: ints have {self.ints.shape[0]} rows, floats {self.floats.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.ints.shape[0])


def stack_columns(bars: BarArrays, columns: Mapping[str, np.ndarray]) -> BatchInputs:
    """The default batch inputs: integer columns side by side in ``ints`` and real ones in
    ``floats``, each in parameter order; no tables."""
    ints = [c for c in columns.values() if c.dtype == np.int64]
    floats = [c for c in columns.values() if c.dtype == np.float64]
    m = len(next(iter(columns.values()))) if columns else 0

    def stack(cols: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
        out = np.empty((m, len(cols)), dtype=dtype)
        for j, col in enumerate(cols):
            out[:, j] = col
        return out

    return BatchInputs(np.empty((0, 0, len(bars))), stack(ints, np.int64), stack(floats, np.float64))


@dataclasses.dataclass(frozen=True, slots=True)
class BatchKernel:
    """A strategy's batch (sweep) kernel: many parameter sets' targets in one compiled loop.

    ``prepare(bars, columns)`` turns the parameter columns (row ``i`` is set ``i``, see
    :meth:`Strategy.param_columns`) into :class:`BatchInputs`, computing once what sets share.
    ``target`` is a Numba ``@njit`` function of :data:`SET_TARGET_SIGNATURE` that writes set
    ``i``'s raw target (-1/0/+1 per bar) into ``out``; it must equal what
    :meth:`Strategy.target_positions` returns for that set. The sweep calls it for every set
    inside one parallel loop that also sizes and simulates the target.
    """

    target: Any
    prepare: Callable[[BarArrays, Mapping[str, np.ndarray]], BatchInputs] = stack_columns


def coerce_param(name: str, field: str, kind: Any, raw: Any) -> Any:
    """Parameter ``field`` of strategy ``name`` converted to its declared type ``kind``, within
    the bounds every strategy parameter has (raises ``InputError`` naming both otherwise)."""
    value = _coerce_type(name, field, kind, raw)
    if isinstance(value, int) and abs(value) > MAX_INT_PARAM:
        raise InputError(
            f"strategy {name!r}: parameter {field!r} must be within +/-{MAX_INT_PARAM:,}, got {raw!r}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"strategy {name!r}: parameter {field!r} must be a finite number, got {raw!r}")
    return value


def _coerce_type(name: str, field: str, kind: Any, raw: Any) -> Any:
    if kind in (int, "int"):
        if isinstance(raw, bool):
            raise InputError(f"strategy {name!r}: parameter {field!r} must be an integer, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise InputError(f"strategy {name!r}: parameter {field!r} must be an integer, got {raw!r}")
    if kind in (float, "float"):
        if isinstance(raw, bool):
            raise InputError(f"strategy {name!r}: parameter {field!r} must be a number, got {raw!r}")
        if isinstance(raw, int | float):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                pass
        raise InputError(f"strategy {name!r}: parameter {field!r} must be a number, got {raw!r}")
    raise TypeError(f"unsupported parameter type {kind!r}")  # pragma: no cover - programming error


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Strategy(ABC):
    """Base class: subclasses are frozen dataclasses whose fields are the parameters."""

    name: ClassVar[str]
    batch: ClassVar[BatchKernel | None] = None
    """The batch (sweep) kernel, or ``None``: sweeps then run the decision pipeline per set."""

    @classmethod
    def param_dtypes(cls) -> dict[str, type[np.generic]]:
        """The parameter columns a sweep builds for this strategy: name -> int64 or float64."""
        return {f.name: param_dtype(f.type) for f in dataclasses.fields(cls)}

    @classmethod
    def param_columns(cls, sets: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """One contiguous array per parameter over ``sets`` (validated), defaults filled in."""
        defaults = cls.from_params().params()
        return {
            name: np.ascontiguousarray(np.array([s.get(name, defaults[name]) for s in sets], dtype=dtype))
            for name, dtype in cls.param_dtypes().items()
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> Self:
        """Build the strategy from ``params``; missing keys take their defaults.

        Values may be strings (as from ``--param fast=10``); they are converted to the
        field's type.

        Raises:
            InputError: an unknown key, a value of the wrong type, or a value out of range.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in (params or {}).items():
            if key not in fields:
                known = ", ".join(sorted(fields)) or "none"
                raise InputError(f"strategy {cls.name!r} has no parameter {key!r} (known: {known})")
            values[key] = coerce_param(cls.name, key, fields[key].type, raw)
        strategy = cls(**values)
        strategy.validate()
        return strategy

    def params(self) -> dict[str, Any]:
        """Return the parameters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @abstractmethod
    def validate(self) -> None:
        """Raise InputError if a parameter is out of range."""

    @abstractmethod
    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Return one float64 target per bar (-1, 0 or +1), decided causally on each bar's close.

        ``bars`` is a frame with (at least) the columns the strategy reads, or a
        :class:`BarArrays` wrapping one.
        """

    def _require(self, ok: bool, message: str) -> None:
        if not ok:
            raise InputError(f"strategy {self.name!r}: {message}")
