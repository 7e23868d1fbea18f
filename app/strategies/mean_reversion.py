"""Mean reversion: fade closes stretched away from their rolling mean."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pandas as pd
from numba import njit

from app.strategies.base import BarArrays, BatchInputs, BatchKernel, Strategy, close_array
from app.strategies.kernels import (
    mean_reversion_target_nb,
    rolling_mean_nb,
    rolling_std_nb,
    rolling_table_nb,
    window_rows,
)
from app.strategies.registry import register_strategy

__all__ = ["MeanReversion"]


def _prepare(bars: BarArrays, columns: Mapping[str, np.ndarray]) -> BatchInputs:
    """Rolling mean and deviation per distinct window in ``tables[0]`` / ``tables[1]``; each
    set's window row in ``ints``, its entry and exit z-scores in ``floats``."""
    windows, rows = window_rows(columns["window"])
    means, stds = rolling_table_nb(close_array(bars), windows, True)
    floats = np.ascontiguousarray(np.column_stack([columns["entry_z"], columns["exit_z"]]))
    return BatchInputs(np.stack([means, stds]), np.ascontiguousarray(rows[:, np.newaxis]), floats)


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
    row = ints[i, 0]
    mean_reversion_target_nb(close, tables[0, row], tables[1, row], floats[i, 0], floats[i, 1], out)


@register_strategy
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MeanReversion(Strategy):
    """Long when the close's z-score drops below ``-entry_z``, short above ``+entry_z``.

    The z-score is ``(close - SMA(window)) / std(window)`` over the trailing ``window``
    closes, bar ``t`` included. A long is closed once the z-score recovers to ``-exit_z``,
    a short once it falls to ``+exit_z``.

    Parameters:
        window: bars in the rolling mean and standard deviation (>= 2).
        entry_z: z-score magnitude that opens a position (> 0).
        exit_z: z-score magnitude at which it is closed (0 <= exit_z < entry_z).
    """

    name: ClassVar[str] = "mean_reversion"
    batch: ClassVar[BatchKernel | None] = BatchKernel(target=_set_target_nb, prepare=_prepare)
    window: int = 20
    entry_z: float = 1.0
    exit_z: float = 0.0

    def validate(self) -> None:
        self._require(self.window >= 2, f"window must be >= 2, got {self.window}")
        self._require(self.entry_z > 0.0, f"entry_z must be > 0, got {self.entry_z}")
        self._require(
            0.0 <= self.exit_z < self.entry_z,
            f"exit_z must be in [0, entry_z), got exit_z={self.exit_z} entry_z={self.entry_z}",
        )

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = close_array(bars)
        mean = np.empty_like(close)
        std = np.empty_like(close)
        out = np.empty_like(close)
        rolling_mean_nb(close, self.window, mean)
        rolling_std_nb(close, self.window, std)
        mean_reversion_target_nb(close, mean, std, self.entry_z, self.exit_z, out)
        return out
