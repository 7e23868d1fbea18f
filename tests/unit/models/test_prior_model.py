"""``--prior-model``: the decision pipeline's model hook, its resolution through the registry,
and the router using the promoted model and the champion parameters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from app.backtest.service import BacktestRequest
from app.decision.pipeline import apply_probability_model, decide, decide_latest
from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.errors import InputError, NotFoundError, StorageError
from app.models.features import FeatureSet, build_features
from app.models.registry import ModelRegistry, PromotionPolicy
from app.models.selection import PriorModels, check_prior_model
from app.models.training import TrainingConfig, TrainingReport, WinProbabilityModel, train
from app.risk.sizing import RiskConfig, size_positions
from app.router import RouterRunRequest
from app.storage.blob import BlobStore
from app.strategies import get_strategy

WHEN = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
Trained = tuple[WinProbabilityModel, TrainingReport, FeatureSet]
KELLY = RiskConfig(agent="fractional_kelly", fraction=0.5, max_position_fraction=0.4)


def _bars(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    high = close * (1 + rng.uniform(0, 0.01, n))
    low = close * (1 - rng.uniform(0, 0.01, n))
    index = pd.date_range("2016-01-04", periods=n, freq="B", tz="UTC")
    return pd.DataFrame({"open": close, "high": high, "low": low, "close": close, "volume": 1e6}, index=index)


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    bars = _bars(1_500)
    signals = compute_signals(bars)
    return bars, signals, compute_regimes(bars, signals)


@pytest.fixture(scope="module")
def trained(
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> Trained:
    bars, signals, regimes = market
    frame = decide(bars, signals, regimes, get_strategy("momentum", {}), replace(KELLY, allow_short=True))
    data = build_features(
        bars["close"].to_numpy(), signals, frame.position, frame.prob, frame.payoff, frame.regime_code
    )
    model, report = train(data, TrainingConfig(max_iter=20))
    return model, report, data


def test_model_probabilities_replace_the_beta_ones_on_bars_with_a_side(
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    trained: Trained,
) -> None:
    bars, signals, regimes = market
    model = trained[0]
    strategy = get_strategy("momentum", {})
    beta = decide(bars, signals, regimes, strategy, KELLY)
    learned = decide(bars, signals, regimes, strategy, KELLY, model)
    side = beta.position != 0
    assert side.any() and (~side).any()
    expected = model.predict(
        build_features(
            bars["close"].to_numpy()[side],
            signals[side],
            beta.position[side],
            beta.prob[side],
            beta.payoff[side],
            beta.regime_code[side],
            with_labels=False,
        ).features
    )
    np.testing.assert_allclose(learned.prob[side], expected)
    np.testing.assert_array_equal(learned.prob[~side], beta.prob[~side])
    np.testing.assert_array_equal(learned.payoff, beta.payoff)  # b stays the priors kernel's
    sized = size_positions(KELLY, expected, beta.payoff[side], beta.regime[side])
    np.testing.assert_allclose(learned.frac[side], sized)
    np.testing.assert_allclose(learned.target, learned.position * learned.frac)
    assert not np.allclose(learned.prob[side], beta.prob[side])


def test_scoring_some_rows_equals_scoring_all_on_those_rows(
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    trained: Trained,
) -> None:
    bars, signals, regimes = market
    model = trained[0]
    strategy = get_strategy("momentum", {})
    beta = decide(bars, signals, regimes, strategy, KELLY)
    everything = apply_probability_model(beta, bars, signals, model, KELLY)
    last = len(beta) - 1
    one = apply_probability_model(beta, bars, signals, model, KELLY, np.array([last]))
    assert one.prob[last] == pytest.approx(everything.prob[last])
    np.testing.assert_array_equal(one.prob[:last], beta.prob[:last])
    assert decide_latest(bars, signals, regimes, strategy, KELLY, model).prob == pytest.approx(
        everything.prob[last]
    )
    with pytest.raises(InputError, match="within"):
        apply_probability_model(beta, bars, signals, model, KELLY, np.array([len(beta)]))
    with pytest.raises(InputError, match="signals"):
        apply_probability_model(beta, bars, None, model, KELLY)
    all_in = RiskConfig(agent="all_in")
    plain = decide(bars, signals, regimes, strategy, all_in)
    assert apply_probability_model(plain, bars, signals, model, all_in) is plain


def test_prior_model_values_are_checked() -> None:
    assert check_prior_model(" Beta ") == "beta"
    assert check_prior_model("PROMOTED") == "promoted"
    assert check_prior_model("20261130T173000Z-ab12cd34") == "20261130T173000Z-ab12cd34"
    for bad in ("", "../x", "a b", "x" * 81):
        with pytest.raises(InputError):
            check_prior_model(bad)
    base = {"symbol": "AAPL", "start": "2024-01-02", "end": "2024-06-28", "strategy": "momentum"}
    assert BacktestRequest.model_validate(base).prior_model == "beta"
    assert BacktestRequest.model_validate(base | {"prior_model": "promoted"}).prior_model == "promoted"
    with pytest.raises(ValidationError, match="prior model"):
        BacktestRequest.model_validate(base | {"prior_model": "no/such"})
    router = {"symbol": "AAPL", "start": "2025-01-02", "strategy": "breakout"}
    assert RouterRunRequest.model_validate(router).prior_model == "promoted"
    with pytest.raises(ValidationError):
        RouterRunRequest.model_validate(router | {"prior_model": "bad name"})


def _register(
    registry: ModelRegistry,
    strategy: str,
    trained: Trained,
    *,
    promote: bool,
) -> str:
    model, report, data = trained
    card = registry.register(strategy, model, report, data, training_window={}, now=WHEN)
    if promote:
        registry.decide(
            card, PromotionPolicy(min_brier_improvement=0.0, require_lower_log_loss=False), now=WHEN
        )
    return card.version


def test_resolution_beta_promoted_version_and_fallbacks(tmp_path: Path, trained: Trained) -> None:
    blob = BlobStore.local(tmp_path / "blob")
    registry = ModelRegistry(blob)
    models = PriorModels(lambda: registry)
    assert models.resolve("breakout", "beta").event == "priors:beta"
    none = models.resolve("breakout", "promoted")
    assert none.model is None and none.fallback_reason == "no promoted model"
    with pytest.raises(NotFoundError, match="no model"):
        models.resolve("breakout", "20260101T000000Z-deadbeef")

    version = _register(registry, "breakout", trained, promote=True)
    promoted = models.resolve("breakout", "promoted")
    assert promoted.model is not None and promoted.version == version
    assert promoted.event == f"priors:model:{version}"
    assert promoted.as_dict()["source"] == "model"
    assert models.resolve("breakout", version).version == version

    # a replaced artifact: a fresh resolver refuses the named version and falls back for 'promoted'
    blob.put_bytes("trader-models", f"models/breakout/{version}/model.pkl", b"not the model")
    fresh = PriorModels(lambda: registry)
    fallback = fresh.resolve("breakout", "promoted")
    assert fallback.model is None and fallback.fallback_reason == "loading failed: StorageError"
    with pytest.raises(StorageError):
        fresh.resolve("breakout", version)
    assert PriorModels(None).resolve("breakout", "promoted").event == "priors:beta"
    with pytest.raises(InputError, match="no model registry"):
        PriorModels(None).resolve("breakout", version)


def test_sweeps_size_every_set_with_the_model(
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], trained: Trained
) -> None:
    from app.backtest.engine import EngineConfig, run_backtest
    from app.backtest.sweeps.config import RiskConfig as SweepRisk
    from app.backtest.sweeps.evaluate import MarketArrays, evaluate_sets

    bars, signals, regimes = market
    model = trained[0]
    arrays = MarketArrays.from_frames("SYN", bars, signals, regimes)
    sets = [{"lookback": 10}, {"lookback": 40}]
    beta = evaluate_sets(arrays, "momentum", sets, KELLY)
    learned = evaluate_sets(arrays, "momentum", sets, KELLY, probability=model)
    assert not np.allclose(beta.metrics, learned.metrics, equal_nan=True)
    for i, params in enumerate(sets):
        target = decide(bars, signals, regimes, get_strategy("momentum", params), KELLY, model).target
        equity = run_backtest(bars, target, EngineConfig(initial_cash=100_000.0)).final_equity
        assert learned.rows()[i]["final_equity"] == pytest.approx(equity, rel=1e-9)
    assert SweepRisk().prior_model == "beta"
    assert SweepRisk(prior_model="Promoted").prior_model == "promoted"
    with pytest.raises(ValidationError):
        SweepRisk(prior_model="../etc")
