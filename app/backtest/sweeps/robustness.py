"""Is the sweep's winner an edge or the luckiest of its trials? Walk-forward and overfitting statistics.

For one symbol, every successfully evaluated parameter set gives a (bars x sets) matrix of
per-bar returns: kept from the sweep's own evaluation when it ran in this process on a batch
kernel (one compiled pass writes each set's metrics and returns), otherwise replayed through
the decision pipeline and the engine once (:func:`set_returns`). Everything below is computed
from that matrix, so the statistics see exactly the trades the leaderboard ranks:

* **Deflated Sharpe ratio** of the in-sample winner, deflated by the number of trials and the
  variance of their Sharpe ratios; the **minimum track record length** it would need.
* **Probability of backtest overfitting** by combinatorially symmetric cross-validation.
* **Walk-forward** (when the config has ``walk_forward``): on each train window the set with
  the best objective is chosen, then scored on the following test window; the test windows'
  returns of the chosen sets are stitched into one out-of-sample record with its own metrics
  and deflated Sharpe ratio. The winner is ``promotable`` only when that out-of-sample DSR
  reaches ``promotion.min_oos_deflated_sharpe``.
* Per set, the Sharpe ratio before the first test window (in-sample) and over the test
  windows (out-of-sample), side by side.
* **Bias check** (``ai-trader strategy check``) of the winner, only when it could be promoted
  (its out-of-sample DSR clears the bar): a failure refuses the promotion. A winner that cannot
  be promoted anyway is reported as not checked, which saves the replay's cost on every sweep.

Returns on bar ``t`` come from a run over the whole history, so indicators and priors at a
window's first bar are already warmed up, exactly as in live trading; every decision is causal
(``ai-trader strategy check``), so a train window's returns never use bars after it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.backtest.engine import (
    STATUS_OK,
    STATUS_RUINED,
    EngineConfig,
    run_backtest,
)
from app.backtest.lookahead import check_strategy
from app.backtest.overfitting import (
    column_sharpe_nb,
    deflated_sharpe_ratio,
    min_track_record_length,
    probability_of_backtest_overfitting,
    sharpe_stats,
    window_growth_rows_nb,
    window_sharpe_nb,
)
from app.backtest.sweeps import kernels
from app.backtest.sweeps.config import SweepConfig
from app.backtest.sweeps.evaluate import MarketArrays, evaluate_sets
from app.backtest.sweeps.walkforward import WalkForwardPlan, plan_walk_forward, stitch_returns
from app.decision.pipeline import decide
from app.errors import ConfigError, InputError
from app.risk.sizing import RiskConfig
from app.strategies import STRATEGIES, get_strategy

__all__ = ["RobustnessReport", "analyse_symbol", "set_returns", "window_scores"]

RETURN_METRICS = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "final_equity")
"""Objectives a window can be scored by from returns alone; others fall back to ``sharpe``."""


def set_returns(
    config: SweepConfig,
    market: MarketArrays,
    risk: RiskConfig,
    params: Sequence[dict[str, Any]],
) -> np.ndarray:
    """Per-bar returns (bars x sets) of each parameter set, exactly as the sweep simulated it.

    Strategies with a batch kernel and sizing without priors take the compiled path (one
    parallel loop writing every set's equity); the others are replayed through
    :func:`~app.decision.pipeline.decide` and the engine one set at a time.
    """
    sets = [{**config.fixed_params, **values} for values in params]
    cls = STRATEGIES.get(config.strategy)
    if cls is not None and cls.batch is not None and not risk.needs_priors and sets:
        return _batch_returns(config, market, risk, sets).T  # (bars x sets), a view
    equity = _replayed_equity(config, market, risk, sets)
    previous = np.concatenate([np.full((equity.shape[0], 1), config.initial_cash), equity[:, :-1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous > 0.0, equity / previous - 1.0, 0.0)
    return np.asarray(returns.T)


def _batch_returns(
    config: SweepConfig, market: MarketArrays, risk: RiskConfig, sets: list[dict[str, Any]]
) -> np.ndarray:
    evaluation = evaluate_sets(
        market,
        config.strategy,
        sets,
        risk,
        fill=config.fill,
        commission=config.costs.commission,
        slippage_bps=config.costs.slippage_bps,
        initial_cash=config.initial_cash,
        with_returns=True,
    )
    bad = np.flatnonzero((evaluation.status != STATUS_OK) & (evaluation.status != STATUS_RUINED))
    if bad.size or evaluation.returns is None:
        reason = evaluation.errors[int(bad[0])] if bad.size else "no returns were written"
        raise InputError(f"{bad.size} sets could not be simulated again: {reason}")
    return evaluation.returns


def _replayed_equity(
    config: SweepConfig, market: MarketArrays, risk: RiskConfig, sets: list[dict[str, Any]]
) -> np.ndarray:
    engine = EngineConfig(
        fill=config.fill,
        commission=config.costs.commission,
        slippage_bps=config.costs.slippage_bps,
        initial_cash=config.initial_cash,
    )
    equity = np.empty((len(sets), len(market)))
    for k, values in enumerate(sets):
        decisions = decide(
            market.bars, market.signals, market.regimes, get_strategy(config.strategy, values), risk
        )
        equity[k] = run_backtest(market.bars, decisions.target, engine).equity.to_numpy(dtype=np.float64)
    return equity


def window_scores(returns: np.ndarray, metric: str, periods_per_year: float) -> np.ndarray:
    """Each column's ``metric`` over the rows of ``returns`` (a window of the matrix).

    Only what the metric needs is computed: the Sharpe ratio of the sweep's matrix (bars
    contiguous) takes one compiled pass repeating NumPy's ``mean`` / ``std`` arithmetic
    (:func:`~app.backtest.overfitting.window_sharpe_nb`), other layouts and the Sortino ratio
    NumPy's reductions; the growth metrics take one compiled pass per column
    (:func:`~app.backtest.sweeps.kernels.window_growth_nb`, or
    :func:`~app.backtest.overfitting.window_growth_rows_nb` without the drawdown) without an
    equity matrix. Every value is the same, bit for bit, as from NumPy's equity matrix.
    """
    if returns.shape[0] == 0:
        raise InputError("an empty window has no score")
    if metric in ("total_return", "final_equity", "cagr", "max_drawdown"):
        growth, drawdown = _window_growth(returns, with_drawdown=metric == "max_drawdown")
        if metric == "max_drawdown":
            return drawdown
        if metric == "cagr":
            years = returns.shape[0] / periods_per_year
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.asarray(np.where(growth > 0, growth ** (1.0 / years) - 1.0, -1.0))
        return np.asarray(growth - 1.0)
    if metric == "sharpe" and _bars_contiguous(returns):
        # NumPy's mean and std(ddof=1) arithmetic in one compiled pass, without temporaries
        out = np.empty(returns.shape[1])
        window_sharpe_nb(returns.T, 0, returns.shape[0], math.sqrt(periods_per_year), out)
        return out
    mean = returns.mean(axis=0)
    if metric == "sortino":
        downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(downside > 0, mean / downside * math.sqrt(periods_per_year), 0.0))
    std = returns.std(axis=0, ddof=1) if returns.shape[0] > 1 else np.zeros(returns.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(std > 0, mean / std * math.sqrt(periods_per_year), 0.0))


def _bars_contiguous(returns: np.ndarray) -> bool:
    """Whether ``returns`` (bars x sets) holds each set's bars next to each other in memory.

    That is the sweep's matrix (a (sets x bars) C array read as (bars x sets)) and any window
    of its bars: NumPy then reduces each column pairwise, which the compiled scores repeat.
    """
    return (
        returns.dtype == np.float64
        and returns.ndim == 2
        and returns.shape[0] >= 2
        and returns.strides[0] == returns.itemsize
    )


def _window_growth(returns: np.ndarray, *, with_drawdown: bool) -> tuple[np.ndarray, np.ndarray]:
    """Compounded growth (and maximum drawdown) of each column of ``returns``, read in place."""
    # sets x bars: a view of the sweep's matrix, even for a window of its bars (no copy)
    data = np.asarray(returns, dtype=np.float64).T
    growth = np.empty(data.shape[0])
    drawdown = np.empty(data.shape[0])
    if with_drawdown:
        kernels.window_growth_nb(data, with_drawdown, growth, drawdown)
    else:
        # the same products, four sets at a time (independent multiplications overlap)
        window_growth_rows_nb(data, growth)
        drawdown.fill(np.nan)
    return growth, drawdown


def _window_sharpe(returns: np.ndarray, lo: int, hi: int, periods_per_year: float) -> np.ndarray:
    """``window_scores(returns[lo:hi], "sharpe", ...)``, the sweep's C-ordered matrix read by bounds."""
    data = returns.T
    if hi - lo >= 2 and data.dtype == np.float64 and data.flags.c_contiguous:
        out = np.empty(data.shape[0])
        window_sharpe_nb(data, lo, hi, math.sqrt(periods_per_year), out)
        return out
    return window_scores(returns[lo:hi], "sharpe", periods_per_year)


def _per_period_sharpe(returns: np.ndarray) -> np.ndarray:
    """Each column's per-period Sharpe ratio (compiled; the sweep's matrix is read without a copy)."""
    data = np.require(returns.T, dtype=np.float64, requirements=["C", "W"])
    out = np.empty(data.shape[0])
    column_sharpe_nb(data, out)
    return out


def _dsr(returns: np.ndarray, trials: int, trial_sharpes: np.ndarray) -> dict[str, Any]:
    """Deflated Sharpe ratio and minimum track record length of one return series."""
    try:
        stats = sharpe_stats(returns)
        variance = float(np.var(trial_sharpes, ddof=1)) if trial_sharpes.size > 1 else 0.0
        dsr = deflated_sharpe_ratio(
            stats.sharpe,
            stats.observations,
            trials=trials,
            trial_sharpe_variance=variance,
            skew=stats.skew,
            kurtosis=stats.kurtosis,
        )
        min_trl = min_track_record_length(stats.sharpe, skew=stats.skew, kurtosis=stats.kurtosis)
    except (ValueError, InputError) as exc:
        return {"deflated_sharpe": None, "error": str(exc)}
    return {
        "deflated_sharpe": dsr,
        "sharpe_per_period": stats.sharpe,
        "observations": stats.observations,
        "skew": stats.skew,
        "kurtosis": stats.kurtosis,
        "trials": trials,
        "trial_sharpe_variance": variance,
        "min_track_record_length": None if math.isinf(min_trl) else min_trl,
    }


@dataclass(frozen=True, slots=True)
class RobustnessReport:
    """Statistics of one symbol's sweep (see the module docstring); JSON-ready via :meth:`as_dict`."""

    symbol: str
    trials: int
    in_sample: dict[str, Any]
    pbo: dict[str, Any]
    walk_forward: dict[str, Any] | None
    promotable: bool
    reason: str
    per_set: dict[str, dict[str, float | None]]
    bias_check: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "trials": self.trials,
            "in_sample": self.in_sample,
            "pbo": self.pbo,
            "walk_forward": self.walk_forward,
            "promotable": self.promotable,
            "reason": self.reason,
            "bias_check": self.bias_check,
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _finite_list(values: np.ndarray) -> list[float | None]:
    """``[_finite(float(v)) for v in values]`` in one pass (NaN and infinities become ``None``)."""
    clean = np.where(np.isfinite(values), values, np.nan).tolist()
    return [None if v != v else v for v in clean]


def _walk_forward(
    config: SweepConfig,
    plan: WalkForwardPlan,
    returns: np.ndarray,
    cols: np.ndarray,
    set_ids: Sequence[str],
    metric: str,
    maximize: bool,
    ppy: float,
    trial_sharpes: np.ndarray,
) -> dict[str, Any]:
    """Choose on each train window, score on its test window (set ``k`` is column ``cols[k]``)."""
    folds = []
    pieces = []
    for fold in plan.folds:
        scores = window_scores(returns[fold.train], metric, ppy)[cols]
        scores = np.where(np.isfinite(scores), scores, -np.inf if maximize else np.inf)
        chosen = int(np.argmax(scores) if maximize else np.argmin(scores))
        test = returns[fold.test, cols[chosen]]
        pieces.append(test)
        folds.append(
            {
                "fold": fold.index,
                "train": [fold.train_start, fold.train_stop],
                "test": [fold.test_start, fold.test_stop],
                "set_id": set_ids[chosen],
                "train_score": _finite(float(scores[chosen])),
                "test_score": _finite(float(window_scores(test[:, None], metric, ppy)[0])),
            }
        )
    stitched = stitch_returns(plan, pieces)
    oos = {
        name: _finite(float(window_scores(stitched[:, None], name, ppy)[0])) for name in RETURN_METRICS[:5]
    }
    return {
        "layout": plan.layout,
        "folds": folds,
        "oos_start": plan.oos_start,
        "oos_bars": int(stitched.shape[0]),
        "selection_metric": metric,
        "oos": oos,
        "oos_dsr": _dsr(stitched, len(set_ids), trial_sharpes),
        "distinct_sets_chosen": len({f["set_id"] for f in folds}),
    }


def analyse_symbol(
    config: SweepConfig,
    market: MarketArrays,
    risk: RiskConfig,
    ok_rows: Sequence[dict[str, Any]],
    best_set_id: str,
    returns: np.ndarray | None = None,
    columns: np.ndarray | None = None,
) -> RobustnessReport:
    """Walk-forward and overfitting statistics for one symbol's successfully evaluated sets.

    ``returns``, when the sweep kept them from its evaluation, is a (bars x sets) matrix (a
    transposed C-ordered (sets x bars) array) whose column ``columns[k]`` holds
    :func:`set_returns` of ``ok_rows[k]`` (``columns`` omitted: column ``k``); other columns
    are never read into a statistic. The results are those of the matrix in ``ok_rows`` order,
    bit for bit: every per-set figure is computed per column, then read in that order. Without
    ``returns`` the sets are simulated again.

    Raises:
        ConfigError: the return matrix would exceed ``promotion.max_return_cells``, or the data
            is too short for the walk-forward windows.
    """
    promotion = config.promotion
    bars = len(market)
    trials = len(ok_rows)
    if trials * bars > promotion.max_return_cells:
        raise ConfigError(
            f"sweep {config.name!r}: {trials:,} sets x {bars:,} bars = {trials * bars:,} return cells "
            f"exceed promotion.max_return_cells ({promotion.max_return_cells:,}): narrow the grid or dates"
        )
    plan = None
    if config.walk_forward is not None:
        wf = config.walk_forward
        try:
            plan = plan_walk_forward(
                bars,
                folds=wf.folds,
                train_bars=wf.train_bars,
                test_bars=wf.test_bars,
                layout=wf.layout,
                gap=wf.gap,
            )
        except InputError as exc:
            raise ConfigError(f"sweep {config.name!r}: walk_forward: {exc}") from None
    set_ids = [str(row["set_id"]) for row in ok_rows]
    if returns is None:
        returns = set_returns(config, market, risk, [dict(row["params"]) for row in ok_rows])
        columns = None
    cols = np.arange(trials, dtype=np.int64) if columns is None else np.asarray(columns, dtype=np.int64)
    if returns.ndim != 2 or returns.shape[0] != bars or cols.shape != (trials,):
        raise InputError(f"the kept returns are {returns.shape} for {cols.shape} sets, not {bars} bars")
    if trials and (cols.min() < 0 or cols.max() >= returns.shape[1]):
        raise InputError(f"the kept returns have {returns.shape[1]} columns, not one per set")
    ppy = market.periods_per_year
    metric = config.objective.metric if config.objective.metric in RETURN_METRICS else "sharpe"
    maximize = config.objective.maximize if metric == config.objective.metric else True

    sharpes = _per_period_sharpe(returns)[cols]
    best = set_ids.index(best_set_id) if best_set_id in set_ids else int(np.argmax(sharpes))
    in_sample = _dsr(returns[:, cols[best]], trials, sharpes)
    in_sample["set_id"] = set_ids[best]
    if trials >= 2:
        splits = promotion.pbo_splits
        while splits > 2 and bars // splits < 2:
            splits -= 2
        try:
            result = probability_of_backtest_overfitting(
                returns, splits=splits, max_combinations=promotion.pbo_max_combinations, columns=cols
            )
            pbo: dict[str, Any] = {
                "probability": result.probability,
                "splits": result.splits,
                "combinations": result.combinations,
                "degradation_slope": result.degradation_slope,
            }
        except ValueError as exc:
            pbo = {"probability": None, "error": str(exc)}
    else:
        pbo = {"probability": None, "error": "one trial: nothing to overfit across"}

    walk = None
    per_set: dict[str, dict[str, float | None]] = {}
    if plan is not None:
        walk = _walk_forward(config, plan, returns, cols, set_ids, metric, maximize, ppy, sharpes)
        is_sharpe = _window_sharpe(returns, 0, plan.oos_start, ppy)[cols]
        oos_sharpe = _window_sharpe(returns, plan.oos_start, bars, ppy)[cols]
        is_return = window_scores(returns[: plan.oos_start], "total_return", ppy)[cols]
        oos_return = window_scores(returns[plan.oos_start :], "total_return", ppy)[cols]
        per_column = [_finite_list(a) for a in (is_sharpe, oos_sharpe, is_return, oos_return)]
        for set_id, a, b, c, d in zip(set_ids, *per_column, strict=True):
            per_set[set_id] = {"is_sharpe": a, "oos_sharpe": b, "is_total_return": c, "oos_total_return": d}
        dsr = walk["oos_dsr"].get("deflated_sharpe")
        threshold = promotion.min_oos_deflated_sharpe
        promotable = dsr is not None and dsr >= threshold
        reason = (
            f"out-of-sample deflated Sharpe {dsr:.3f} {'>=' if promotable else '<'} {threshold:.3f}"
            if dsr is not None
            else f"out-of-sample deflated Sharpe undefined: {walk['oos_dsr'].get('error')}"
        )
    else:
        promotable = False
        reason = "no out-of-sample record: the config has no walk_forward section"
    if promotable:
        # the replay costs as much as the rest of the statistics: only a winner that could be
        # promoted needs it (a failed or impossible check refuses the promotion)
        bias = _bias_check(config, market, risk, dict(ok_rows[best]["params"]))
        if not bias["ok"]:
            promotable = False
            reason = f"the strategy failed its bias check: {bias['summary']}"
    else:
        bias = {"ok": None, "summary": f"not checked: the winner cannot be promoted ({reason})"}
    return RobustnessReport(
        symbol=market.symbol,
        trials=trials,
        in_sample=in_sample,
        pbo=pbo,
        walk_forward=walk,
        promotable=promotable,
        reason=reason,
        per_set=per_set,
        bias_check=bias,
    )


def _bias_check(
    config: SweepConfig, market: MarketArrays, risk: RiskConfig, params: dict[str, Any]
) -> dict[str, Any]:
    """Look-ahead and recursive-bias replay of the winning set (``ai-trader strategy check``)."""
    strategy = get_strategy(config.strategy, {**config.fixed_params, **params})
    try:
        result = check_strategy(strategy, market.bars, risk=risk, checks=6)
    except InputError as exc:
        return {"ok": None, "summary": f"not checked: {exc}"}
    return {
        "ok": result.ok,
        "summary": result.summary(),
        "warmup": result.warmup,
        "divergences": [
            {"kind": d.kind, "bar": d.bar, "timestamp": d.timestamp, "column": d.column}
            for d in result.divergences
        ],
    }
