"""Compiled batch kernels: many parameter sets of one strategy on one instrument, in parallel.

Each ``*_batch_nb`` kernel runs a ``numba.prange`` loop over parameter sets. For set ``i`` it
builds the strategy's target with the strategy's own kernel (:mod:`app.strategies.kernels`),
sizes it (:func:`size_target_nb`) and simulates it with the engine's kernel
(:func:`app.backtest.engine.simulate_metrics_nb`), writing one metrics row and one status code.
Rolling windows shared by many sets (SMAs, rolling mean / deviation) are computed once per
distinct window and looked up by index.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from app.backtest.engine import N_TRADE_FIELDS, first_bad_price_nb, simulate_core_nb, simulate_metrics_nb
from app.strategies.kernels import (
    breakout_target_nb,
    mean_reversion_target_nb,
    momentum_target_nb,
    rolling_mean_nb,
    rolling_std_nb,
)

__all__ = [
    "breakout_batch_nb",
    "mean_reversion_batch_nb",
    "momentum_batch_nb",
    "rolling_table_nb",
    "size_target_nb",
    "sma_cross_batch_nb",
    "targets_batch_nb",
]


@njit(cache=True)
def size_target_nb(
    target: np.ndarray, scale_long: np.ndarray, scale_short: np.ndarray, allow_short: bool
) -> None:  # pragma: no cover - compiled
    """Replace a target by its side times the bar's long / short fraction, in place.

    Shorts become flat unless ``allow_short``; NaN becomes flat (as the pipeline's ``sign``).
    """
    for t in range(target.shape[0]):
        value = target[t]
        if value > 0.0:
            target[t] = min(1.0, scale_long[t])
        elif value < 0.0 and allow_short:
            target[t] = -min(1.0, scale_short[t])
        else:
            target[t] = 0.0


@njit(cache=True)
def _simulate_nb(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    costs: np.ndarray,
    metrics_row: np.ndarray,
) -> int:  # pragma: no cover - compiled
    size_target_nb(target, scale_long, scale_short, allow_short)
    return simulate_metrics_nb(
        open_, close, target, fill_close, costs[0], costs[1], costs[2], costs[3], costs[4], metrics_row
    )


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


@njit(cache=True)
def _sma_cross_sets_nb(
    lo: int,
    hi: int,
    open_: np.ndarray,
    close: np.ndarray,
    smas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    first_bad: int,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    unused = np.empty(0, dtype=np.float64)
    no_trades = np.empty((0, N_TRADE_FIELDS), dtype=np.float64)
    for i in range(lo, hi):
        status_out[i] = simulate_core_nb(
            open_,
            close,
            unused,
            smas[fast_row[i]],
            smas[slow_row[i]],
            scale_long,
            scale_short,
            allow_short,
            True,
            first_bad,
            fill_close,
            costs[0],
            costs[1],
            costs[2],
            costs[3],
            costs[4],
            unused,
            no_trades,
            metrics_out[i],
        )


_CHUNK = 64  # sets per parallel task: the serial inner loop compiles tighter than a prange body


@njit(cache=True, parallel=True)
def sma_cross_batch_nb(
    open_: np.ndarray,
    close: np.ndarray,
    smas: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """SMA crossover sets: row ``fast_row[i]`` of ``smas`` against row ``slow_row[i]``.

    ``smas`` comes from :func:`rolling_table_nb`, so each distinct window is computed once.
    Each set is one pass over the bars: the engine's loop derives the crossover and its
    sizing bar by bar (``from_cross``) instead of reading a target array built by two
    earlier passes; the numbers are the same as
    :func:`app.strategies.kernels.cross_target_nb` followed by :func:`size_target_nb` and
    :func:`app.backtest.engine.simulate_metrics_nb`. The prices are checked once for all sets.

    ``costs`` is ``[commission, slippage fraction, initial cash, periods per year, years]``.
    """
    first_bad = first_bad_price_nb(open_, close)
    if open_.shape[0] != close.shape[0]:
        first_bad = -1  # let each set report the shape error
    m = fast_row.shape[0]
    chunks = (m + _CHUNK - 1) // _CHUNK
    for c in prange(chunks):
        _sma_cross_sets_nb(
            c * _CHUNK,
            min(m, (c + 1) * _CHUNK),
            open_,
            close,
            smas,
            fast_row,
            slow_row,
            scale_long,
            scale_short,
            allow_short,
            fill_close,
            first_bad,
            costs,
            metrics_out,
            status_out,
        )


@njit(cache=True, parallel=True)
def momentum_batch_nb(
    open_: np.ndarray,
    close: np.ndarray,
    lookback: np.ndarray,
    threshold: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Momentum sets (``lookback[i]``, ``threshold[i]``)."""
    n = close.shape[0]
    for i in prange(lookback.shape[0]):
        target = np.empty(n)
        momentum_target_nb(close, lookback[i], threshold[i], target)
        status_out[i] = _simulate_nb(
            open_, close, target, scale_long, scale_short, allow_short, fill_close, costs, metrics_out[i]
        )


@njit(cache=True, parallel=True)
def mean_reversion_batch_nb(
    open_: np.ndarray,
    close: np.ndarray,
    means: np.ndarray,
    stds: np.ndarray,
    window_row: np.ndarray,
    entry_z: np.ndarray,
    exit_z: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Mean-reversion sets: z-scores against ``means`` / ``stds`` row ``window_row[i]``."""
    n = close.shape[0]
    for i in prange(window_row.shape[0]):
        target = np.empty(n)
        row = window_row[i]
        mean_reversion_target_nb(close, means[row], stds[row], entry_z[i], exit_z[i], target)
        status_out[i] = _simulate_nb(
            open_, close, target, scale_long, scale_short, allow_short, fill_close, costs, metrics_out[i]
        )


@njit(cache=True, parallel=True)
def breakout_batch_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_window: np.ndarray,
    exit_window: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Channel-breakout sets (``entry_window[i]``, ``exit_window[i]``)."""
    n = close.shape[0]
    for i in prange(entry_window.shape[0]):
        target = np.empty(n)
        breakout_target_nb(high, low, close, entry_window[i], exit_window[i], target)
        status_out[i] = _simulate_nb(
            open_, close, target, scale_long, scale_short, allow_short, fill_close, costs, metrics_out[i]
        )


@njit(cache=True, parallel=True)
def targets_batch_nb(
    open_: np.ndarray,
    close: np.ndarray,
    targets: np.ndarray,
    fill_close: bool,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Any strategy: simulate already sized target rows (``targets[i]``) as they are."""
    for i in prange(targets.shape[0]):
        status_out[i] = simulate_metrics_nb(
            open_,
            close,
            targets[i],
            fill_close,
            costs[0],
            costs[1],
            costs[2],
            costs[3],
            costs[4],
            metrics_out[i],
        )
