"""Compiled building blocks for strategies: rolling windows and position state machines.

Every kernel takes arrays and scalars, writes into an ``out`` array the caller owns and
allocates nothing per bar, so the sweep runner can call them from inside ``numba.prange``.
Positions are float64 ``-1.0`` (short), ``0.0`` (flat) or ``+1.0`` (long) per bar, decided
from data up to and including that bar.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "breakout_target_nb",
    "cross_target_nb",
    "mean_reversion_target_nb",
    "momentum_target_nb",
    "rolling_mean_nb",
    "rolling_std_nb",
    "rolling_table_nb",
    "sma_cross_target_nb",
    "window_rows",
]


@njit(cache=True)
def rolling_mean_nb(values: np.ndarray, window: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Write the trailing ``window`` mean of ``values`` into ``out`` (NaN until the window is full).

    The arithmetic follows pandas' ``Series.rolling(window).mean()`` step for step (a running
    sum with separate Kahan compensations for adds and removes, and the exact value when
    every observation in the window is equal), so crossovers agree with backtesting.py,
    which computes its SMAs with pandas. NaN inputs are skipped as pandas skips them.
    """
    n = values.shape[0]
    nobs = 0
    sum_x = 0.0
    comp_add = 0.0
    comp_remove = 0.0
    same_count = 0
    prev_value = np.nan
    for i in range(n):
        if window > 1 and i >= window:
            old = values[i - window]
            if not np.isnan(old):
                nobs -= 1
                y = -old - comp_remove
                t = sum_x + y
                comp_remove = t - sum_x - y
                sum_x = t
        elif window == 1:
            nobs = 0
            sum_x = 0.0
            comp_add = 0.0
            comp_remove = 0.0
            same_count = 0
        val = values[i]
        if not np.isnan(val):
            nobs += 1
            y = val - comp_add
            t = sum_x + y
            comp_add = t - sum_x - y
            sum_x = t
            if val == prev_value:
                same_count += 1
            else:
                same_count = 1
            prev_value = val
        if nobs >= window and nobs > 0:
            if same_count >= nobs:
                out[i] = prev_value
            else:
                out[i] = sum_x / nobs
        else:
            out[i] = np.nan


@njit(cache=True)
def rolling_std_nb(values: np.ndarray, window: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Write the trailing ``window`` sample standard deviation (ddof=1) into ``out``.

    Two passes over each window (mean, then squared deviations): O(n x window), but free of
    the cancellation a running sum of squares suffers when the spread is tiny next to the level.
    """
    n = values.shape[0]
    for i in range(n):
        if i < window - 1 or window < 2:
            out[i] = np.nan
            continue
        total = 0.0
        for j in range(i - window + 1, i + 1):
            total += values[j]
        mean = total / window
        sq = 0.0
        for j in range(i - window + 1, i + 1):
            d = values[j] - mean
            sq += d * d
        out[i] = np.sqrt(sq / (window - 1))


@njit(cache=True)
def cross_target_nb(
    fast: np.ndarray, slow: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """+1 while ``fast`` is above ``slow``, -1 while it is below, 0 on a tie or a NaN (warm-up).

    The side on bar ``t`` depends on ``fast[t]`` and ``slow[t]`` only, never on where the
    history starts (an event-based rule, "long after the last up-cross", would stay flat until
    its first cross on a history cut later, and fail ``ai-trader strategy check``). Once both
    means exist, the side changes exactly on the bars where the strict crosses are.
    """
    for t in range(fast.shape[0]):
        out[t] = cross_side_nb(fast[t], slow[t])


@njit(cache=True, inline="always")
def cross_side_nb(fast: float, slow: float) -> float:  # pragma: no cover - compiled
    """The crossover side of one bar: 1.0 when ``fast > slow``, -1.0 when below, else 0.0."""
    if fast > slow:
        return 1.0
    if fast < slow:
        return -1.0
    return 0.0


@njit(cache=True)
def sma_cross_target_nb(
    close: np.ndarray, fast: int, slow: int, fast_buf: np.ndarray, slow_buf: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """SMA crossover target in one pass: both means (as :func:`rolling_mean_nb`) and the crosses.

    Writes the fast and slow simple moving averages of ``close`` into the two buffers (when
    they have ``close``'s length; pass empty buffers to skip them) and the target into
    ``out``; the result equals ``rolling_mean_nb`` twice followed by :func:`cross_target_nb`,
    with one sweep over memory instead of three.
    """
    n = close.shape[0]
    keep_means = fast_buf.shape[0] == n and slow_buf.shape[0] == n
    # per window: [nobs, sum, add compensation, remove compensation, same-value run, last value]
    f_nobs = 0
    f_sum = 0.0
    f_cadd = 0.0
    f_crem = 0.0
    f_same = 0
    s_nobs = 0
    s_sum = 0.0
    s_cadd = 0.0
    s_crem = 0.0
    s_same = 0
    prev_value = np.nan
    for i in range(n):
        if fast > 1 and i >= fast:
            old = close[i - fast]
            if not np.isnan(old):
                f_nobs -= 1
                y = -old - f_crem
                t = f_sum + y
                f_crem = t - f_sum - y
                f_sum = t
        elif fast == 1:
            f_nobs = 0
            f_sum = 0.0
            f_cadd = 0.0
            f_crem = 0.0
            f_same = 0
        if slow > 1 and i >= slow:
            old = close[i - slow]
            if not np.isnan(old):
                s_nobs -= 1
                y = -old - s_crem
                t = s_sum + y
                s_crem = t - s_sum - y
                s_sum = t
        val = close[i]
        if not np.isnan(val):
            f_nobs += 1
            y = val - f_cadd
            t = f_sum + y
            f_cadd = t - f_sum - y
            f_sum = t
            s_nobs += 1
            y = val - s_cadd
            t = s_sum + y
            s_cadd = t - s_sum - y
            s_sum = t
            if val == prev_value:
                f_same += 1
                s_same += 1
            else:
                f_same = 1
                s_same = 1
            prev_value = val
        fv = np.nan
        if f_nobs >= fast and f_nobs > 0:
            fv = prev_value if f_same >= f_nobs else f_sum / f_nobs
        sv = np.nan
        if s_nobs >= slow and s_nobs > 0:
            sv = prev_value if s_same >= s_nobs else s_sum / s_nobs
        if keep_means:
            fast_buf[i] = fv
            slow_buf[i] = sv
        out[i] = cross_side_nb(fv, sv)


@njit(cache=True)
def momentum_target_nb(
    close: np.ndarray, lookback: int, threshold: float, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Long when the ``lookback``-bar return exceeds ``threshold``, short below ``-threshold``."""
    n = close.shape[0]
    for t in range(n):
        if t < lookback:
            out[t] = 0.0
            continue
        ret = close[t] / close[t - lookback] - 1.0
        if ret > threshold:
            out[t] = 1.0
        elif ret < -threshold:
            out[t] = -1.0
        else:
            out[t] = 0.0


@njit(cache=True)
def mean_reversion_target_nb(
    close: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    entry_z: float,
    exit_z: float,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Fade stretched prices: long below ``-entry_z`` standard deviations, short above ``+entry_z``.

    A long is held until the z-score climbs back to ``-exit_z``; a short until it falls to
    ``+exit_z``. Bars without a defined z-score (warm-up, zero deviation) keep the state.
    """
    n = close.shape[0]
    state = 0.0
    for t in range(n):
        sd = std[t]
        if sd > 0.0 and not np.isnan(mean[t]):
            z = (close[t] - mean[t]) / sd
            if state == 0.0:
                if z < -entry_z:
                    state = 1.0
                elif z > entry_z:
                    state = -1.0
            elif state > 0.0:
                if z >= -exit_z:
                    state = -1.0 if z > entry_z else 0.0
            elif z <= exit_z:
                state = 1.0 if z < -entry_z else 0.0
        out[t] = state


@njit(cache=True)
def breakout_target_nb(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_window: int,
    exit_window: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Donchian breakout: long when the close clears the prior ``entry_window`` highs, short below the lows.

    A long exits when the close falls under the lowest low of the prior ``exit_window`` bars
    (a short, over the highest high), and a fresh breakout the other way reverses. Channels
    use bars before ``t`` only, so bar ``t`` is compared with a level known before it.
    """
    n = close.shape[0]
    state = 0.0
    for t in range(n):
        if t >= entry_window:
            hi = -np.inf
            lo = np.inf
            for j in range(t - entry_window, t):
                hi = max(hi, high[j])
                lo = min(lo, low[j])
            ex_hi = -np.inf
            ex_lo = np.inf
            for j in range(max(0, t - exit_window), t):
                ex_hi = max(ex_hi, high[j])
                ex_lo = min(ex_lo, low[j])
            c = close[t]
            if c > hi:
                state = 1.0
            elif c < lo:
                state = -1.0
            elif (state > 0.0 and c < ex_lo) or (state < 0.0 and c > ex_hi):
                state = 0.0
        out[t] = state


@njit(cache=True, parallel=True)
def rolling_table_nb(close: np.ndarray, windows: np.ndarray, with_std: bool) -> tuple[np.ndarray, np.ndarray]:
    """Trailing means (and sample deviations when ``with_std``) of ``close``, one row per window."""
    n = close.shape[0]
    k = windows.shape[0]
    means = np.empty((k, n))
    stds = np.empty((k if with_std else 0, n))
    for w in prange(k):
        rolling_mean_nb(close, windows[w], means[w])
        if with_std:
            rolling_std_nb(close, windows[w], stds[w])
    return means, stds


def window_rows(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``windows`` (sorted) and, per input, the row of its window among them.

    Batch kernels compute one rolling table row per distinct window and look sets up by row.
    """
    unique, rows = np.unique(windows, return_inverse=True)
    return np.ascontiguousarray(unique.astype(np.int64)), np.ascontiguousarray(rows.astype(np.int64))
