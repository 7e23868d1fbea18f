"""Compiled batch kernels: many parameter sets of one strategy on one instrument, in parallel.

Each kernel runs a ``numba.prange`` loop over parameter sets and writes one metrics row and
one status code per set with the engine's kernel (:func:`app.backtest.engine.simulate_metrics_nb`).
:func:`strategy_batch_nb` builds each set's target with the strategy's own batch kernel
(:attr:`app.strategies.base.Strategy.batch`) and sizes it (:func:`size_target_nb`) before
simulating; :func:`targets_batch_nb` simulates targets the decision pipeline already sized.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange
from numba import types as nb_types

from app.backtest.engine import simulate_metrics_nb
from app.strategies.base import SET_TARGET_SIGNATURE

__all__ = ["size_target_nb", "strategy_batch_nb", "targets_batch_nb"]


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
_STRATEGY_BATCH_SIGNATURE = nb_types.void(
    nb_types.FunctionType(SET_TARGET_SIGNATURE),
    _READ_1D,
    _READ_1D,
    _READ_1D,
    _READ_1D,
    nb_types.Array(nb_types.float64, 3, "C", readonly=True),
    nb_types.Array(nb_types.int64, 2, "C", readonly=True),
    nb_types.Array(nb_types.float64, 2, "C", readonly=True),
    _READ_1D,
    _READ_1D,
    nb_types.boolean,
    nb_types.boolean,
    _READ_1D,
    nb_types.float64[:, ::1],
    nb_types.int64[::1],
)


@njit(_STRATEGY_BATCH_SIGNATURE, cache=True, parallel=True)
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
