"""Time-series momentum: follow the sign of the trailing return."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd
from numba import njit

from app.strategies.base import BarArrays, BatchKernel, Strategy, close_array
from app.strategies.kernels import momentum_target_nb
from app.strategies.registry import register_strategy

__all__ = ["Momentum"]


@njit(cache=True)
def _set_target_nb(
    i: int,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tables: np.ndarray,
    ints: np.ndarray,
    floats: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    momentum_target_nb(close, ints[i, 0], floats[i, 0], out)  # lookback, threshold


@register_strategy
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Momentum(Strategy):
    """Long while the ``lookback``-bar return is above ``threshold``, short while below ``-threshold``.

    Parameters:
        lookback: bars between the two closes compared (>= 1).
        threshold: minimum absolute return to take a side, as a fraction (0.01 = 1 %; >= 0).
    """

    name: ClassVar[str] = "momentum"
    batch: ClassVar[BatchKernel | None] = BatchKernel(target=_set_target_nb)
    lookback: int = 5
    threshold: float = 0.0

    def validate(self) -> None:
        self._require(self.lookback >= 1, f"lookback must be >= 1, got {self.lookback}")
        self._require(0.0 <= self.threshold < 1.0, f"threshold must be in [0, 1), got {self.threshold}")

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = close_array(bars)
        out = np.empty_like(close)
        momentum_target_nb(close, self.lookback, self.threshold, out)
        return out
