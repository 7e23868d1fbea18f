"""The same-algorithm ceiling for the SMA-crossover sweep: a plain Numba loop, nothing else.

It runs the algorithm ai-trader's batch kernel runs (each distinct SMA computed once and shared
by every set that uses it; the crossover side (fast above slow: long, below: short, tie or
warm-up: flat) decided on a close fills at the next open;
all-in long/short reversals with a commission on each side; the open position closed at the
last close) and keeps only what a bare loop needs: final equity, trade count and maximum
drawdown. No validation, no status codes, no Sharpe/Sortino/CAGR/win rate/exposure. The
distance from ai-trader's kernel to it is the cost of everything ai-trader adds.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["ceiling_sweep_nb", "sma_table_nb"]


@njit(cache=True)
def _sma_nb(close: np.ndarray, window: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    total = 0.0
    for i in range(close.shape[0]):
        total += close[i]
        if i >= window:
            total -= close[i - window]
        out[i] = total / window if i >= window - 1 else np.nan


@njit(cache=True, parallel=True)
def sma_table_nb(close: np.ndarray, windows: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """One SMA row per distinct window."""
    out = np.empty((windows.shape[0], close.shape[0]))
    for w in prange(windows.shape[0]):
        _sma_nb(close, windows[w], out[w])
    return out


@njit(cache=True, parallel=True)
def ceiling_sweep_nb(
    open_: np.ndarray,
    close: np.ndarray,
    smas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    fee: float,
    cash0: float,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``out[i] = (final equity, trades, max drawdown)`` for set ``i``.

    Set ``i`` crosses SMA row ``fast_row[i]`` with row ``slow_row[i]``.
    """
    n = close.shape[0]
    for i in prange(fast_row.shape[0]):
        f = smas[fast_row[i]]
        s = smas[slow_row[i]]
        cash = cash0
        qty = 0.0
        state = 0
        pos = 0
        trades = 0
        peak = cash0
        max_dd = 0.0
        eq = cash0
        for t in range(1, n):
            d = t - 1  # the close whose decision fills at this open
            if f[d] > s[d]:
                state = 1
            elif f[d] < s[d]:
                state = -1
            else:  # a tie, or a mean still warming up
                state = 0
            if state != pos:
                price = open_[t]
                if pos > 0:
                    cash += qty * price * (1.0 - fee)
                    trades += 1
                elif pos < 0:
                    cash -= -qty * price * (1.0 + fee)
                    trades += 1
                if state > 0:
                    qty = cash / (1.0 + fee) / price
                    cash = 0.0
                elif state == 0:
                    qty = 0.0
                else:
                    units = cash / (price * (1.0 + fee))
                    cash += units * price * (1.0 - fee)
                    qty = -units
                pos = state
            eq = cash + qty * close[t]
            if eq > peak:
                peak = eq
            elif eq < peak:
                dd = eq / peak - 1.0
                if dd < max_dd:
                    max_dd = dd
        if pos > 0:
            eq = cash + qty * close[n - 1] * (1.0 - fee)
            trades += 1
        elif pos < 0:
            eq = cash + qty * close[n - 1] * (1.0 + fee)
            trades += 1
        out[i, 0] = eq
        out[i, 1] = trades
        out[i, 2] = min(max_dd, eq / peak - 1.0)
