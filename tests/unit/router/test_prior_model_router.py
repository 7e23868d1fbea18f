"""The router with ``prior_model`` (the promoted model, Beta as the fallback) and champion parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.decision.pipeline import decide
from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.errors import StorageError
from app.models.features import FeatureSet, build_features
from app.models.registry import ModelRegistry, PromotionPolicy
from app.models.selection import PriorModels
from app.models.training import TrainingConfig, TrainingReport, WinProbabilityModel, train
from app.risk.sizing import RiskConfig
from app.router import RouterRunRequest, run_router
from app.storage.blob import BlobStore
from app.strategies import get_strategy
from tests.unit.router.conftest import RouterRig

Trained = tuple[WinProbabilityModel, TrainingReport, FeatureSet]
WHEN = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def promoted_model() -> Trained:
    rng = np.random.default_rng(3)
    n = 1_200
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    index = pd.date_range("2016-01-04", periods=n, freq="B", tz="UTC")
    bars = pd.DataFrame(
        {"open": close, "high": close * 1.005, "low": close * 0.995, "close": close, "volume": 1e6},
        index=index,
    )
    signals = compute_signals(bars)
    regimes = compute_regimes(bars, signals)
    risk = RiskConfig(agent="fractional_kelly", allow_short=True)
    frame = decide(bars, signals, regimes, get_strategy("momentum", {}), risk)
    data = build_features(close, signals, frame.position, frame.prob, frame.payoff, frame.regime_code)
    model, report = train(data, TrainingConfig(max_iter=20))
    return model, report, data


def _register(registry: ModelRegistry, trained: Trained) -> str:
    model, report, data = trained
    card = registry.register("breakout", model, report, data, training_window={}, now=WHEN)
    registry.decide(card, PromotionPolicy(min_brier_improvement=0.0, require_lower_log_loss=False), now=WHEN)
    return card.version


SPEC = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "end": "2026-11-20T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": False,
    "execute_orders": False,
}


def test_router_sizes_with_the_promoted_model_and_says_so(
    rig: RouterRig, tmp_path: Path, promoted_model: Trained
) -> None:
    registry = ModelRegistry(BlobStore.local(tmp_path / "blob"))
    context = rig.with_context(prior_models=PriorModels(lambda: registry))
    request = RouterRunRequest.model_validate(SPEC)
    beta = run_router(request, context)
    assert "priors:computed" in beta.events and "priors:beta" in beta.events
    assert beta.prior is not None and beta.prior["fallback_reason"] == "no promoted model"

    version = _register(registry, promoted_model)
    learned = run_router(request, context)
    assert "priors:computed" in learned.events
    assert f"priors:model:{version}" in learned.events
    assert learned.prior is not None and learned.prior["version"] == version
    assert learned.signal_bar_time == beta.signal_bar_time
    assert learned.payoff == beta.payoff
    # the same numbers as the pipeline scoring every bar with the model
    bars = context.market_data.fetch(
        "synthetic", "AAPL", request.start, request.window_end, use_cache=False, write_cache=False
    ).bars
    signals = compute_signals(bars)
    frame = decide(
        bars,
        signals,
        compute_regimes(bars, signals),
        get_strategy("breakout", {}),
        context.risk,
        promoted_model[0],
    )
    bar = int(bars.index.get_indexer([learned.signal_bar_time])[0])
    assert learned.prob == pytest.approx(frame.prob[bar])
    assert learned.intent is not None and beta.intent is not None
    entry = (
        bar
        if frame.position[bar] != 0
        else int(np.flatnonzero(frame.position[:bar] != frame.position[bar - 1])[-1]) + 1
    )
    assert learned.frac == pytest.approx(frame.frac[entry])
    assert learned.frac != beta.frac
    forced_beta = run_router(RouterRunRequest.model_validate(SPEC | {"prior_model": "beta"}), context)
    assert "priors:beta" in forced_beta.events and forced_beta.prob == beta.prob


def test_router_uses_champion_parameters_unless_the_request_names_some(rig: RouterRig) -> None:
    request = RouterRunRequest.model_validate(SPEC)
    default = run_router(request, rig.context)
    assert default.params_source == "default" and "params:default" in default.events
    record = {"params": {"entry_window": 30}, "since": WHEN.isoformat()}
    context = rig.with_context(champion_params=lambda strategy: record if strategy == "breakout" else None)
    champion = run_router(request, context)
    assert champion.params_source == "champion"
    assert champion.params["entry_window"] == 30
    own = run_router(RouterRunRequest.model_validate(SPEC | {"params": {"entry_window": 10}}), context)
    assert own.params_source == "request" and own.params["entry_window"] == 10

    def unreadable(strategy: str) -> dict[str, object] | None:
        raise StorageError("blob down")

    fallback = run_router(request, rig.with_context(champion_params=unreadable))
    assert fallback.params_source == "default" and fallback.params == default.params
