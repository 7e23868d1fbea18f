"""Evaluate parameter sets of one strategy on one instrument's data.

Parameter sets are turned into sized targets exactly as :func:`app.decision.pipeline.decide`
does it (strategy -> priors -> sizing) and simulated by the engine's kernel, so a sweep row
matches what ``run_backtest`` reports for the same set. Two paths:

* the fast path, for strategies that declare a batch kernel (``Strategy.batch``: all the
  shipped ones) when the sizing does not depend on priors (``all_in``, ``fixed_fraction``,
  regime-aware or not): the per-bar fraction is computed once with
  :func:`app.risk.sizing.size_positions` and every set runs in one ``numba.prange`` loop
  (the strategy's per-set target, then sizing and simulation);
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
from app.decision.pipeline import ProbabilityModel, decide
from app.errors import AiTraderError, InputError
from app.risk.sizing import RiskConfig, size_positions
from app.strategies import STRATEGIES, BarArrays, Strategy, get_strategy

__all__ = ["Evaluation", "MarketArrays", "SizingArrays", "evaluate_sets", "has_batch_kernel"]

_BATCH_BYTES = 1024 * 1024
_SET_ERRORS = (AiTraderError, ValueError, ArithmeticError)
_BUILD_FAILED = -1


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
        labels = market.regime_labels() if risk.regime_aware else None  # read only when used
        frac = np.ascontiguousarray(size_positions(risk, nan, nan, labels), dtype=np.float64)
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
    returns: np.ndarray | None = None
    """With ``with_returns`` on the batch path: each set's per-bar returns (sets x bars), from
    the same pass as its metrics (what :func:`app.backtest.sweeps.robustness.set_returns` gives)."""

    def rows(self) -> list[dict[str, float | None]]:
        """One metrics dict per set; NaN and infinite values become ``None`` (JSON null)."""
        names = METRIC_NAMES
        finite = np.isfinite(self.metrics)
        clean = np.where(finite, self.metrics, np.nan).tolist()
        # a row of finite values (the usual one) is zipped as it is; others have NaN -> None
        whole = finite.all(axis=1).tolist() if finite.ndim == 2 else [False] * len(clean)
        return [
            dict(zip(names, row, strict=True))
            if ok
            else {k: (None if v != v else v) for k, v in zip(names, row, strict=True)}
            for row, ok in zip(clean, whole, strict=True)
        ]


def has_batch_kernel(strategy: str) -> bool:
    """Whether the strategy called ``strategy`` declares a batch kernel (False if unknown)."""
    cls = STRATEGIES.get(strategy)
    return cls is not None and cls.batch is not None


def _costs(market: MarketArrays, commission: float, slippage_bps: float, initial_cash: float) -> np.ndarray:
    return np.array(
        [commission, slippage_bps / 10_000.0, initial_cash, market.periods_per_year, market.years],
        dtype=np.float64,
    )


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
    probability: ProbabilityModel | None = None,
    with_returns: bool = False,
) -> Evaluation:
    """Backtest every parameter set in ``sets`` (already validated) and return their metrics.

    With ``probability`` (a calibrated win-probability model) and a risk agent that uses
    priors, every set is decided through :func:`decide` with that model.

    With ``with_returns``, the batch path also keeps each set's per-bar returns
    (:attr:`Evaluation.returns`), written by the same simulation pass as the metrics, which
    are unchanged; the decision path keeps none (``returns`` stays ``None``).

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
    cls = STRATEGIES.get(strategy)
    if cls is None or cls.batch is None or risk.needs_priors:
        _evaluate_decisions(
            market, strategy, sets, risk, fill_close, costs, metrics, status, errors, probability
        )
        return _finish(metrics, status, errors)
    sizing = sizing if sizing is not None else SizingArrays.from_risk(risk, market)
    returns = np.empty((m, len(market))) if with_returns else None
    if not _evaluate_batch(market, cls, sets, sizing, fill_close, costs, metrics, status, errors, returns):
        returns = None
    return _finish(metrics, status, errors, returns)


def _evaluate_batch(
    market: MarketArrays,
    cls: type[Strategy],
    sets: Sequence[Mapping[str, Any]],
    sizing: SizingArrays,
    fill_close: bool,
    costs: np.ndarray,
    metrics: np.ndarray,
    status: np.ndarray,
    errors: list[str | None],
    returns: np.ndarray | None = None,
) -> bool:
    """Fill ``metrics`` and ``status`` (and ``returns`` when given); False if nothing was simulated."""
    kernel = cls.batch
    assert kernel is not None
    bars = BarArrays.with_columns(
        market.bars, {"open": market.open, "high": market.high, "low": market.low, "close": market.close}
    )
    try:
        inputs = kernel.prepare(bars, cls.param_columns(sets))
        if len(inputs) != len(sets):
            raise InputError(
                f"strategy {cls.name!r}: batch inputs have {len(inputs)} rows for {len(sets)} sets"
            )
    except _SET_ERRORS as exc:
        status[:] = _BUILD_FAILED
        errors[:] = [f"{type(exc).__name__}: {exc}"] * len(sets)
        return False
    if cls.name == "sma_cross":
        # the crossover's fused kernels: one pass per set, the same numbers as the generic loop
        fused = (
            market.open,
            market.close,
            inputs.tables[0],
            np.ascontiguousarray(inputs.ints[:, 0]),
            np.ascontiguousarray(inputs.ints[:, 1]),
        )
        fused_args = (*fused, sizing.scale_long, sizing.scale_short, sizing.allow_short, fill_close, costs)
        if returns is None:
            kernels.sma_cross_batch_nb(*fused_args, metrics, status)
        else:
            kernels.sma_cross_returns_batch_nb(*fused_args, returns, metrics, status)
        return True
    generic = (
        kernel.target,
        market.open,
        market.high,
        market.low,
        market.close,
        inputs.tables,
        inputs.ints,
        inputs.floats,
    )
    args = (*generic, sizing.scale_long, sizing.scale_short, sizing.allow_short, fill_close, costs)
    if returns is None:
        kernels.strategy_batch_nb(*args, metrics, status)
    else:
        # the one-pass form: metrics and per-bar returns of every set together
        kernels.strategy_returns_batch_nb(*args, returns, metrics, status)
    return True


def _finish(
    metrics: np.ndarray, status: np.ndarray, errors: list[str | None], returns: np.ndarray | None = None
) -> Evaluation:
    for i in np.flatnonzero((status != STATUS_OK) & (status != STATUS_RUINED)):
        if errors[i] is None:
            errors[i] = status_message(int(status[i]))
    return Evaluation(metrics, status, errors, returns)


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
    probability: ProbabilityModel | None = None,
) -> None:
    n = len(market)
    targets = np.zeros((len(sets), n))
    for i, params in enumerate(sets):
        try:
            built = get_strategy(strategy, params)
            targets[i] = decide(market.bars, market.signals, market.regimes, built, risk, probability).target
        except _SET_ERRORS as exc:
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
