"""The strategy interface and typed, validated parameters.

A strategy is a frozen object built from a parameter mapping. It turns bars (plus the
DAL's signals and regimes, which it may ignore) into one target position per bar:
``+1.0`` long, ``0.0`` flat, ``-1.0`` short, decided on bar ``t``'s close from data at or
before ``t``. Strategies always emit both sides; whether shorts are allowed is the risk
layer's decision (:class:`app.risk.sizing.RiskConfig.allow_short`).
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from app.errors import InputError

__all__ = ["BarArrays", "Strategy", "close_array", "column_array"]


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


def _coerce(name: str, field: str, kind: Any, raw: Any) -> Any:
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
            values[key] = _coerce(cls.name, key, fields[key].type, raw)
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
