"""SMA crossover: the textbook strategy peers ship, kept as the reference for cross-checks.

The side is the state of the two means on each bar (see :class:`SmaCross`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd
from numba import njit

from app.strategies.base import BarArrays, BatchInputs, BatchKernel, Strategy, close_array
from app.strategies.kernels import cross_target_nb, rolling_table_nb, sma_cross_target_nb, window_rows
from app.strategies.registry import register_strategy

__all__ = ["SmaCross"]


def _prepare(bars: BarArrays, columns: Mapping[str, np.ndarray]) -> BatchInputs:
    """One SMA per distinct window in ``tables[0]``; each set's fast and slow rows in ``ints``."""
    fast, slow = columns["fast"], columns["slow"]
    windows, rows = window_rows(np.concatenate([fast, slow]))
    smas, _ = rolling_table_nb(close_array(bars), windows, False)
    ints = np.ascontiguousarray(rows.reshape(2, len(fast)).T)
    return BatchInputs(smas[np.newaxis], ints, np.empty((len(fast), 0)))


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
    cross_target_nb(tables[0, ints[i, 0]], tables[0, ints[i, 1]], out)


@register_strategy
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SmaCross(Strategy):
    """Long while the fast SMA is above the slow one, short while it is below (flat on a tie and
    during the slow SMA's warm-up).

    State-based rather than "hold the side of the last cross": the side on a bar depends only on
    the last ``slow`` closes, so it does not change with where the history starts (an
    event-based rule is flat until its first cross on a later start, which ``ai-trader
    strategy check`` flags as recursive bias and which makes a sweep's winner unpromotable).
    After the warm-up both rules agree, and the side changes on the bars of the strict crosses.

    Parameters:
        fast: window of the fast simple moving average, in bars (>= 1).
        slow: window of the slow simple moving average, in bars (> fast).
    """

    name: ClassVar[str] = "sma_cross"
    batch: ClassVar[BatchKernel | None] = BatchKernel(target=_set_target_nb, prepare=_prepare)
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
