"""SMA crossover: the textbook strategy peers ship, kept as the reference for cross-checks."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from app.strategies.base import BarArrays, Strategy, close_array
from app.strategies.kernels import sma_cross_target_nb

__all__ = ["SmaCross"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SmaCross(Strategy):
    """Long after the fast SMA crosses above the slow one, short after it crosses below.

    Parameters:
        fast: window of the fast simple moving average, in bars (>= 1).
        slow: window of the slow simple moving average, in bars (> fast).
    """

    name: ClassVar[str] = "sma_cross"
    fast: int = 10
    slow: int = 20

    def validate(self) -> None:
        self._require(self.fast >= 1, f"fast must be >= 1, got {self.fast}")
        self._require(
            self.slow > self.fast, f"slow must be greater than fast, got fast={self.fast} slow={self.slow}"
        )

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = close_array(bars)
        out = np.empty_like(close)
        no_means = np.empty(0, dtype=np.float64)  # the means themselves are not needed here
        sma_cross_target_nb(close, self.fast, self.slow, no_means, no_means, out)
        return out
