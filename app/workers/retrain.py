"""The 17:30 retrain: a walk-forward sweep, a win-probability model fit, and two promotion decisions.

1. **Parameters.** The sweep (with its walk-forward and overfitting statistics) names a best
   set; it becomes the strategy's champion parameters only when the sweep says
   ``promotable`` (its out-of-sample deflated Sharpe cleared the bar and its bias check
   passed). Otherwise the previous champion parameters stay.
2. **Model.** On the champion parameters (the new ones, else the previous ones, else the
   sweep's best set), every symbol of the sweep is decided with the Beta priors and turned
   into causal features and next-bar outcomes; the model is fitted with purged, embargoed
   cross-validation, registered in ``trader-models`` and promoted only if it beats the Beta
   prior out of sample by the policy's margin.

Both decisions are recorded with their numbers whatever they are. The router of the next
session reads the champion parameters and model from the registry
(:func:`app.models.params.champion_parameters`, :meth:`ModelRegistry.load_champion`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import numpy as np

from app.backtest.sweeps.config import SweepConfig
from app.backtest.sweeps.evaluate import MarketArrays
from app.decision.pipeline import decide
from app.errors import InputError
from app.models.features import FEATURE_NAMES, FeatureSet, build_features
from app.models.registry import ModelRegistry, PromotionPolicy
from app.models.training import TrainingConfig, train
from app.risk.sizing import RiskConfig
from app.strategies import get_strategy

__all__ = ["pooled_features", "retrain_model"]

MarketLoader = Callable[[SweepConfig, str], MarketArrays]


def pooled_features(
    config: SweepConfig,
    params: Mapping[str, Any],
    risk: RiskConfig,
    markets: Sequence[MarketArrays],
) -> FeatureSet:
    """Samples of every symbol on one shared calendar, in time order (ties: symbol order).

    Raises:
        InputError: no symbol produced a sample.
    """
    strategy = get_strategy(config.strategy, {**config.fixed_params, **params})
    calendar: list[Any] = sorted({ts for market in markets for ts in market.bars.index})
    position = {ts: k for k, ts in enumerate(calendar)}
    parts: list[tuple[np.ndarray, FeatureSet]] = []
    for market in markets:
        if market.signals is None or market.regimes is None:
            raise InputError(f"{market.symbol}: the model needs signals and regimes")
        decisions = decide(market.bars, market.signals, market.regimes, strategy, risk)
        data = build_features(
            market.close,
            market.signals,
            decisions.position,
            decisions.prob,
            decisions.payoff,
            decisions.regime_code,
        )
        shared_rows = np.array([position[market.bars.index[r]] for r in data.rows], dtype=np.int64)
        parts.append((shared_rows, data))
    if not any(len(data) for _, data in parts):
        raise InputError("no symbol produced a training sample (no bar with a side)")
    rows = np.concatenate([shared for shared, _ in parts])
    order = np.argsort(rows, kind="stable")
    return FeatureSet(
        features=np.concatenate([data.features for _, data in parts])[order],
        labels=np.concatenate([data.labels for _, data in parts])[order],
        rows=rows[order],
        prior_prob=np.concatenate([data.prior_prob for _, data in parts])[order],
    )


def retrain_model(
    config: SweepConfig,
    params: Mapping[str, Any],
    markets: Sequence[MarketArrays],
    registry: ModelRegistry,
    *,
    policy: PromotionPolicy,
    training: TrainingConfig | None = None,
    now: datetime,
    actor: str = "retrain",
) -> dict[str, Any]:
    """Fit, register and decide on a model of ``config.strategy`` with ``params``; report the numbers."""
    risk = RiskConfig(agent="fractional_kelly", use_probabilistic=True, allow_short=config.allow_short)
    data = pooled_features(config, params, risk, markets)
    model, report = train(data, training or TrainingConfig())
    first = min(market.bars.index[0] for market in markets)
    last = max(market.bars.index[-1] for market in markets)
    card = registry.register(
        config.strategy,
        model,
        report,
        data,
        training_window={
            "start": str(first),
            "end": str(last),
            "symbols": ",".join(m.symbol for m in markets),
        },
        training_config={"params": dict(params), **asdict(training or TrainingConfig())},
        now=now,
    )
    decision = registry.decide(card, policy, actor=actor, now=now)
    return {
        "version": card.version,
        "samples": card.samples,
        "features": len(FEATURE_NAMES),
        "promoted": decision.promoted,
        "reason": decision.reason,
        "model": card.metrics["model"],
        "prior": card.metrics["prior"],
        "brier_improvement": card.metrics["brier_improvement"],
        "champion": registry.champion_version(config.strategy),
    }
