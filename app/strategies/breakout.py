"""Channel breakout (Donchian): trade closes that leave the recent high-low range."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd
from numba import njit

from app.strategies.base import BarArrays, BatchKernel, Strategy, close_array, column_array
from app.strategies.kernels import breakout_target_nb
from app.strategies.registry import register_strategy

__all__ = ["Breakout"]


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
    breakout_target_nb(high, low, close, ints[i, 0], ints[i, 1], out)  # entry_window, exit_window


@register_strategy
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Breakout(Strategy):
    """Long on a close above the prior ``entry_window`` highs, short on one below the lows.

    A long is closed when the close drops below the lowest low of the prior ``exit_window``
    bars (a short, above the highest high); a breakout the other way reverses.

    Parameters:
        entry_window: bars in the breakout channel (>= 1).
        exit_window: bars in the (usually tighter) exit channel (>= 1).
    """

    name: ClassVar[str] = "breakout"
    batch: ClassVar[BatchKernel | None] = BatchKernel(target=_set_target_nb)
    entry_window: int = 20
    exit_window: int = 10

    def validate(self) -> None:
        self._require(self.entry_window >= 1, f"entry_window must be >= 1, got {self.entry_window}")
        self._require(self.exit_window >= 1, f"exit_window must be >= 1, got {self.exit_window}")

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = close_array(bars)
        high = column_array(bars, "high")
        low = column_array(bars, "low")
        out = np.empty_like(close)
        breakout_target_nb(high, low, close, self.entry_window, self.exit_window, out)
        return out
