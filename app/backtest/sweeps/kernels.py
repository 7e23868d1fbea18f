"""Compiled batch kernels: many parameter sets of one strategy on one instrument, in parallel.

Each kernel runs a ``numba.prange`` loop over parameter sets and writes one metrics row and
one status code per set with the engine's kernel (:func:`app.backtest.engine.simulate_metrics_nb`).
:func:`strategy_batch_nb` builds each set's target with the strategy's own batch kernel
(:attr:`app.strategies.base.Strategy.batch`) and sizes it (:func:`size_target_nb`) before
simulating; :func:`targets_batch_nb` simulates targets the decision pipeline already sized.
:func:`sma_cross_batch_nb` is the crossover strategies' fused path: one pass per set, the
crossover derived inside the engine's loop instead of a target array built first.
:func:`window_growth_nb` scores windows of the sweep's per-set return matrix for the
walk-forward statistics (growth and drawdown without materialising the equity curves).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange
from numba import types as nb_types

from app.backtest.engine import (
    N_METRICS,
    N_TRADE_FIELDS,
    first_bad_price_nb,
    simulate_core_nb,
    simulate_metrics_nb,
    simulate_nb,
)
from app.strategies.base import SET_TARGET_SIGNATURE

__all__ = [
    "size_target_nb",
    "sma_cross_batch_nb",
    "strategy_batch_nb",
    "strategy_returns_batch_nb",
    "targets_batch_nb",
    "window_growth_nb",
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


_READ_1D = nb_types.Array(nb_types.float64, 1, "C", readonly=True)


# The compiled signature both loops over a strategy's sets share (:func:`strategy_batch_nb`
# writes a metrics row per set, :func:`strategy_returns_batch_nb` a row of per-bar returns).
_PER_SET_LOOP_SIGNATURE = nb_types.void(
    nb_types.FunctionType(SET_TARGET_SIGNATURE),  # set_target
    _READ_1D,  # open
    _READ_1D,  # high
    _READ_1D,  # low
    _READ_1D,  # close
    nb_types.Array(nb_types.float64, 3, "C", readonly=True),  # tables
    nb_types.Array(nb_types.int64, 2, "C", readonly=True),  # ints
    nb_types.Array(nb_types.float64, 2, "C", readonly=True),  # floats
    _READ_1D,  # scale_long
    _READ_1D,  # scale_short
    nb_types.boolean,  # allow_short
    nb_types.boolean,  # fill_close
    _READ_1D,  # costs
    nb_types.float64[:, ::1],  # the per-set rows written
    nb_types.int64[::1],  # status
)


@njit(_PER_SET_LOOP_SIGNATURE, cache=True, parallel=True)
def strategy_batch_nb(
    set_target: Any,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tables: np.ndarray,
    ints: np.ndarray,
    floats: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Any strategy's sets through its batch kernel: target, size and simulate set ``i``.

    ``set_target`` is the strategy's per-set target function
    (:data:`app.strategies.base.SET_TARGET_SIGNATURE`), passed as a first-class function so
    one compiled (and cached) loop serves every strategy. ``costs`` is
    ``[commission, slippage fraction, initial cash, periods per year, years]``.
    """
    n = close.shape[0]
    for i in prange(status_out.shape[0]):
        target = np.empty(n)
        set_target(np.int64(i), open_, high, low, close, tables, ints, floats, target)
        status_out[i] = _simulate_nb(
            open_, close, target, scale_long, scale_short, allow_short, fill_close, costs, metrics_out[i]
        )


@njit(_PER_SET_LOOP_SIGNATURE, cache=True, parallel=True)
def strategy_returns_batch_nb(
    set_target: Any,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tables: np.ndarray,
    ints: np.ndarray,
    floats: np.ndarray,
    scale_long: np.ndarray,
    scale_short: np.ndarray,
    allow_short: bool,
    fill_close: bool,
    costs: np.ndarray,
    returns_out: np.ndarray,
    status_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """As :func:`strategy_batch_nb`, but set ``i``'s per-bar returns go to ``returns_out[i]``.

    What the sweep statistics (walk-forward, deflated Sharpe, PBO) read: every set's equity
    from the same target, sizing and simulation the leaderboard ranks, as the return of each
    close over the previous one (the first over the initial cash).
    """
    n = close.shape[0]
    for i in prange(status_out.shape[0]):
        target = np.empty(n)
        set_target(np.int64(i), open_, high, low, close, tables, ints, floats, target)
        size_target_nb(target, scale_long, scale_short, allow_short)
        status_out[i] = simulate_nb(
            open_,
            close,
            target,
            fill_close,
            costs[0],
            costs[1],
            costs[2],
            costs[3],
            costs[4],
            returns_out[i],
            np.empty((0, N_TRADE_FIELDS)),
            np.empty(N_METRICS),
        )
        row = returns_out[i]
        for t in range(n - 1, 0, -1):
            row[t] = row[t] / row[t - 1] - 1.0 if row[t - 1] > 0.0 else 0.0
        if n > 0:
            row[0] = row[0] / costs[2] - 1.0


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


@njit(inline="always")
def _sma_cross_range_nb(
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
    first_bad: int,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
    fill_close: bool,
    whole: bool,
) -> None:  # pragma: no cover - compiled
    unused = np.empty(0, dtype=np.float64)
    no_trades = np.empty((0, N_TRADE_FIELDS), dtype=np.float64)
    for i in range(lo, hi):
        status_out[i] = simulate_core_nb(
            open_, close, unused, smas[fast_row[i]], smas[slow_row[i]], scale_long, scale_short,
            allow_short, True, first_bad, fill_close, costs[0], costs[1], costs[2], costs[3], costs[4],
            unused, no_trades, metrics_out[i], whole,
        )  # fmt: skip


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
    first_bad: int,
    costs: np.ndarray,
    metrics_out: np.ndarray,
    status_out: np.ndarray,
    fill_close: bool,
    whole: bool,
) -> None:  # pragma: no cover - compiled
    # Two inlined copies of the loop: the usual sweep (next-open fills, every side whole) with
    # both as constants, and the general one. A flag tested inside the bar loop costs about 5 %
    # of the sweep each; a copy per combination would double the compile time for little.
    if whole and not fill_close:
        _sma_cross_range_nb(
            lo, hi, open_, close, smas, fast_row, slow_row, scale_long, scale_short, allow_short,
            first_bad, costs, metrics_out, status_out, False, True,
        )  # fmt: skip
    else:
        _sma_cross_range_nb(
            lo, hi, open_, close, smas, fast_row, slow_row, scale_long, scale_short, allow_short,
            first_bad, costs, metrics_out, status_out, fill_close, False,
        )  # fmt: skip


@njit(cache=True)
def _takes_whole_nb(scale: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether ``min(1.0, scale[t])`` is 1.0 on every bar (no NaN, nothing below 1)."""
    return bool(np.all(scale >= 1.0))  # NaN >= 1.0 is False


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

    ``smas`` holds one SMA per distinct window (the crossover strategy's batch ``tables[0]``).
    Each set is one pass over the bars: the engine's loop derives the crossover side (fast above
    slow: long, below: short, tie or warm-up: flat) and its sizing bar by bar (``from_cross``)
    instead of reading a target array built by two earlier passes;
    the numbers are the same as :func:`app.strategies.kernels.cross_target_nb` followed by
    :func:`size_target_nb` and :func:`app.backtest.engine.simulate_metrics_nb`. The prices
    are checked once for all sets.

    ``costs`` is ``[commission, slippage fraction, initial cash, periods per year, years]``.
    """
    first_bad = first_bad_price_nb(open_, close)
    if open_.shape[0] != close.shape[0]:
        first_bad = -1  # let each set report the shape error
    whole = _takes_whole_nb(scale_long) and _takes_whole_nb(scale_short)
    m = fast_row.shape[0]
    chunks = (m + _CHUNK - 1) // _CHUNK
    for c in prange(chunks):
        _sma_cross_sets_nb(
            c * _CHUNK, min(m, (c + 1) * _CHUNK), open_, close, smas, fast_row, slow_row, scale_long,
            scale_short, allow_short, first_bad, costs, metrics_out, status_out, fill_close, whole,
        )  # fmt: skip


@njit(cache=True)
def window_growth_nb(
    data: np.ndarray, with_drawdown: bool, growth: np.ndarray, drawdown: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Per row of ``data`` (sets x bars): compounded growth and, if asked, the maximum drawdown.

    ``growth[s]`` is the running product of ``1 + r`` in bar order: the same multiplications in
    the same order as the last row of ``numpy.cumprod`` over the window, so the value is
    bit-identical. ``drawdown[s]`` is the lowest ``growth / peak - 1`` with the peak starting
    at 1; a NaN spreads as it does through ``numpy.maximum.accumulate`` and ``min``. Nothing of
    size bars x sets is allocated (the pass is bound by reading the window once).
    """
    for s in range(data.shape[0]):
        g = 1.0
        peak = 1.0
        low = np.nan
        for t in range(data.shape[1]):
            g = g * (1.0 + data[s, t])
            if with_drawdown:
                if not peak >= g:  # a NaN growth makes the peak NaN for good, as np.maximum does
                    peak = g
                dd = g / peak - 1.0
                if t == 0 or dd < low or dd != dd:
                    low = dd
        growth[s] = g
        drawdown[s] = low
