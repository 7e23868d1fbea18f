"""Evaluate parameter sets of one strategy on one instrument's data.

Parameter sets are turned into sized targets exactly as :func:`app.decision.pipeline.decide`
does it (strategy -> priors -> sizing) and simulated by the engine's kernel, so a sweep row
matches what ``run_backtest`` reports for the same set. Two paths:

* the fast path, for strategies with a batch kernel (``sma_cross``, ``momentum``,
  ``mean_reversion``, ``breakout``) when the sizing does not depend on priors (``all_in``,
  ``fixed_fraction``, regime-aware or not): the per-bar fraction is computed once with
  :func:`app.risk.sizing.size_positions` and every set runs in one ``numba.prange`` loop;
* the decision path, for ``fractional_kelly`` / ``use_probabilistic`` (priors depend on each
  set's positions) and strategies without a batch kernel: :func:`decide` per set, then one
  parallel kernel call simulates all the resulting targets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.backtest.engine import (
    METRIC_NAMES,
    N_METRICS,
    STATUS_OK,
    STATUS_RUINED,
    periods_per_year,
    status_message,
)
from app.backtest.sweeps import kernels
from app.decision.pipeline import decide
from app.errors import AiTraderError
from app.risk.sizing import RiskConfig, size_positions
from app.strategies import get_strategy

__all__ = ["BATCH_STRATEGIES", "Evaluation", "MarketArrays", "SizingArrays", "evaluate_sets"]

BATCH_STRATEGIES: frozenset[str] = frozenset({"sma_cross", "momentum", "mean_reversion", "breakout"})


@dataclass(frozen=True, slots=True)
class SizingArrays:
    """Per-bar fractions applied to long and short targets, and whether shorts are allowed."""

    scale_long: np.ndarray
    scale_short: np.ndarray
    allow_short: bool

    @classmethod
    def from_risk(cls, risk: RiskConfig, market: MarketArrays) -> SizingArrays:
        """The per-bar fraction of a risk config that needs no priors (the same for every set)."""
        n = len(market)
        nan = np.full(n, np.nan)
        frac = np.ascontiguousarray(size_positions(risk, nan, nan, market.regime_labels()), dtype=np.float64)
        return cls(frac, frac, risk.allow_short)


@dataclass(frozen=True, slots=True)
class MarketArrays:
    """One symbol's data, loaded once and shared by every parameter set."""

    symbol: str
    bars: pd.DataFrame
    signals: pd.DataFrame | None
    regimes: pd.DataFrame | None
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    periods_per_year: float
    years: float

    @classmethod
    def from_frames(
        cls,
        symbol: str,
        bars: pd.DataFrame,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> MarketArrays:
        def column(name: str) -> np.ndarray:
            return np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64))

        index = bars.index
        years = math.nan
        if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
            span = (index[-1] - index[0]).total_seconds()
            years = span / (365.25 * 86_400.0) if span > 0 else math.nan
        return cls(
            symbol=symbol,
            bars=bars,
            signals=signals,
            regimes=regimes,
            open=column("open"),
            high=column("high"),
            low=column("low"),
            close=column("close"),
            periods_per_year=periods_per_year(index),
            years=years,
        )

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def regime_labels(self) -> np.ndarray | None:
        if self.regimes is None or "regime" not in self.regimes.columns:
            return None
        return self.regimes["regime"].to_numpy(dtype=object)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Metrics (one row per set, columns :data:`METRIC_NAMES`), status codes and errors."""

    metrics: np.ndarray
    status: np.ndarray
    errors: list[str | None]

    def rows(self) -> list[dict[str, float | None]]:
        """One metrics dict per set; NaN and infinite values become ``None`` (JSON null)."""
        names = METRIC_NAMES
        clean = np.where(np.isfinite(self.metrics), self.metrics, np.nan).tolist()
        return [{k: (None if v != v else v) for k, v in zip(names, row, strict=True)} for row in clean]


def _costs(market: MarketArrays, commission: float, slippage_bps: float, initial_cash: float) -> np.ndarray:
    return np.array(
        [commission, slippage_bps / 10_000.0, initial_cash, market.periods_per_year, market.years],
        dtype=np.float64,
    )


def _column(sets: Sequence[Mapping[str, Any]], name: str, default: Any, dtype: Any) -> np.ndarray:
    return np.ascontiguousarray(np.array([s.get(name, default) for s in sets], dtype=dtype))


def _window_rows(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, rows = np.unique(windows, return_inverse=True)
    return np.ascontiguousarray(unique.astype(np.int64)), np.ascontiguousarray(rows.astype(np.int64))


def evaluate_sets(
    market: MarketArrays,
    strategy: str,
    sets: Sequence[Mapping[str, Any]],
    risk: RiskConfig,
    *,
    sizing: SizingArrays | None = None,
    fill: str = "next_open",
    commission: float = 0.0,
    slippage_bps: float = 0.0,
    initial_cash: float = 100_000.0,
) -> Evaluation:
    """Backtest every parameter set in ``sets`` (already validated) and return their metrics.

    A set whose strategy cannot be built, or whose simulation reports bad input, comes back
    with a non-zero status and an error message; the others are unaffected.
    """
    m = len(sets)
    metrics = np.full((m, N_METRICS), np.nan)
    status = np.zeros(m, dtype=np.int64)
    errors: list[str | None] = [None] * m
    if m == 0:
        return Evaluation(metrics, status, errors)
    costs = _costs(market, commission, slippage_bps, initial_cash)
    fill_close = fill == "close"
    if strategy not in BATCH_STRATEGIES or risk.needs_priors:
        _evaluate_decisions(market, strategy, sets, risk, fill_close, costs, metrics, status, errors)
        return _finish(metrics, status, errors)
    sizing = sizing if sizing is not None else SizingArrays.from_risk(risk, market)
    defaults = get_strategy(strategy).params()
    scale_long, scale_short, allow_short = sizing.scale_long, sizing.scale_short, sizing.allow_short
    if strategy == "sma_cross":
        fast = _column(sets, "fast", defaults["fast"], np.int64)
        slow = _column(sets, "slow", defaults["slow"], np.int64)
        windows, rows = _window_rows(np.concatenate([fast, slow]))
        smas, _ = kernels.rolling_table_nb(market.close, windows, False)
        kernels.sma_cross_batch_nb(
            market.open,
            market.close,
            smas,
            rows[:m].copy(),
            rows[m:].copy(),
            scale_long,
            scale_short,
            allow_short,
            fill_close,
            costs,
            metrics,
            status,
        )
    elif strategy == "momentum":
        kernels.momentum_batch_nb(
            market.open,
            market.close,
            _column(sets, "lookback", defaults["lookback"], np.int64),
            _column(sets, "threshold", defaults["threshold"], np.float64),
            scale_long,
            scale_short,
            allow_short,
            fill_close,
            costs,
            metrics,
            status,
        )
    elif strategy == "mean_reversion":
        windows, rows = _window_rows(_column(sets, "window", defaults["window"], np.int64))
        means, stds = kernels.rolling_table_nb(market.close, windows, True)
        kernels.mean_reversion_batch_nb(
            market.open,
            market.close,
            means,
            stds,
            rows,
            _column(sets, "entry_z", defaults["entry_z"], np.float64),
            _column(sets, "exit_z", defaults["exit_z"], np.float64),
            scale_long,
            scale_short,
            allow_short,
            fill_close,
            costs,
            metrics,
            status,
        )
    else:
        kernels.breakout_batch_nb(
            market.open,
            market.high,
            market.low,
            market.close,
            _column(sets, "entry_window", defaults["entry_window"], np.int64),
            _column(sets, "exit_window", defaults["exit_window"], np.int64),
            scale_long,
            scale_short,
            allow_short,
            fill_close,
            costs,
            metrics,
            status,
        )
    return _finish(metrics, status, errors)


def _finish(metrics: np.ndarray, status: np.ndarray, errors: list[str | None]) -> Evaluation:
    for i in np.flatnonzero((status != STATUS_OK) & (status != STATUS_RUINED)):
        if errors[i] is None:
            errors[i] = status_message(int(status[i]))
    return Evaluation(metrics, status, errors)


_BUILD_FAILED = -1


def _evaluate_decisions(
    market: MarketArrays,
    strategy: str,
    sets: Sequence[Mapping[str, Any]],
    risk: RiskConfig,
    fill_close: bool,
    costs: np.ndarray,
    metrics: np.ndarray,
    status: np.ndarray,
    errors: list[str | None],
) -> None:
    n = len(market)
    targets = np.zeros((len(sets), n))
    for i, params in enumerate(sets):
        try:
            built = get_strategy(strategy, params)
            targets[i] = decide(market.bars, market.signals, market.regimes, built, risk).target
        except (AiTraderError, ValueError, ArithmeticError) as exc:
            status[i] = _BUILD_FAILED
            errors[i] = f"{type(exc).__name__}: {exc}"
    ok = np.flatnonzero(status == 0)
    if ok.size == 0:
        return
    sub_metrics = np.full((ok.size, N_METRICS), np.nan)
    sub_status = np.zeros(ok.size, dtype=np.int64)
    kernels.targets_batch_nb(
        market.open,
        market.close,
        np.ascontiguousarray(targets[ok]),
        fill_close,
        costs,
        sub_metrics,
        sub_status,
    )
    metrics[ok] = sub_metrics
    status[ok] = sub_status
