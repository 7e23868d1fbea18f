"""Time-series momentum: follow the sign of the trailing return."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from app.strategies.base import BarArrays, Strategy, close_array
from app.strategies.kernels import momentum_target_nb

__all__ = ["Momentum"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Momentum(Strategy):
    """Long while the ``lookback``-bar return is above ``threshold``, short while below ``-threshold``.

    Parameters:
        lookback: bars between the two closes compared (>= 1).
        threshold: minimum absolute return to take a side, as a fraction (0.01 = 1 %; >= 0).
    """

    name: ClassVar[str] = "momentum"
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
