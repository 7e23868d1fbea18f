"""Learned win probabilities: causal features, purged folds, scores, training and the registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, log_loss

from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.errors import InputError, NotFoundError, StorageError
from app.models.features import FEATURE_NAMES, FeatureSet, build_features, feature_hash
from app.models.metrics import reliability_curve, score_probabilities
from app.models.registry import ModelRegistry, PromotionPolicy, data_fingerprint
from app.models.training import TrainingConfig, train
from app.models.validation import PurgedKFold
from app.storage.blob import BlobStore

WHEN = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)


def _bars(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    high = close * (1 + rng.uniform(0, 0.01, n))
    low = close * (1 - rng.uniform(0, 0.01, n))
    index = pd.date_range("2015-01-02", periods=n, freq="B", tz="UTC")
    return pd.DataFrame({"open": close, "high": high, "low": low, "close": close, "volume": 1e6}, index=index)


def _feature_set(bars: pd.DataFrame, *, with_labels: bool = True) -> FeatureSet:
    signals = compute_signals(bars)
    regimes = compute_regimes(bars, signals)
    close = bars["close"].to_numpy()
    side = np.where(signals["momentum"].fillna(0.0).to_numpy() >= 0.0, 1.0, -1.0)
    prob = np.full(len(bars), 0.5)
    payoff = np.ones(len(bars))
    return build_features(
        close, signals, side, prob, payoff, regimes["regime_code"].to_numpy(), with_labels=with_labels
    )


def test_features_are_causal_appending_bars_changes_no_earlier_row() -> None:
    bars = _bars(600)
    short = _feature_set(bars.iloc[:400], with_labels=False)
    long = _feature_set(bars, with_labels=False)
    np.testing.assert_array_equal(short.rows, long.rows[:400])
    np.testing.assert_allclose(short.features, long.features[:400], equal_nan=True)
    assert short.features.shape[1] == len(FEATURE_NAMES)


def test_labels_are_the_next_bar_outcome_of_the_side() -> None:
    bars = _bars(300)
    data = _feature_set(bars)
    close = bars["close"].to_numpy()
    side = data.features[:, FEATURE_NAMES.index("side")]
    expected = (side * (close[data.rows + 1] / close[data.rows] - 1) > 0).astype(np.int8)
    np.testing.assert_array_equal(data.labels, expected)
    assert data.rows[-1] < len(bars) - 1


def test_features_refuse_misaligned_inputs() -> None:
    bars = _bars(50)
    signals = compute_signals(bars)
    with pytest.raises(InputError, match="shape"):
        build_features(bars["close"].to_numpy(), signals, np.ones(49), np.ones(50), np.ones(50), np.zeros(50))
    with pytest.raises(InputError, match="lack"):
        build_features(
            bars["close"].to_numpy(), signals.drop(columns=["rsi"]), *(np.ones(50),) * 3, np.zeros(50)
        )


@given(
    n=st.integers(20, 400),
    folds=st.integers(2, 8),
    horizon=st.integers(0, 3),
    embargo=st.integers(0, 10),
    gaps=st.integers(1, 3),
)
@settings(max_examples=150, deadline=None)
def test_purged_folds_never_leak(n: int, folds: int, horizon: int, embargo: int, gaps: int) -> None:
    rows = np.arange(n) * gaps
    cv = PurgedKFold(folds=folds, horizon=horizon, embargo=embargo)
    tested = np.zeros(n, dtype=int)
    for train_idx, test_idx in cv.split(rows):
        tested[test_idx] += 1
        first, last = rows[test_idx[0]], rows[test_idx[-1]]
        for t in rows[train_idx]:
            # The training label window [t, t + horizon] never touches [first, last + horizon],
            # and nothing within the embargo after the fold is used.
            assert t + horizon < first or t > last + horizon + embargo
        assert not set(train_idx) & set(test_idx)
    assert bool(np.all(tested == 1))


def test_purged_folds_refuse_bad_input() -> None:
    with pytest.raises(InputError):
        PurgedKFold(folds=1)
    with pytest.raises(InputError, match="too few"):
        list(PurgedKFold(folds=5).split(np.arange(3)))
    with pytest.raises(InputError, match="non-decreasing"):
        list(PurgedKFold(folds=2).split(np.array([0, 2, 1, 3])))
    # several symbols on one bar: a sample sharing a bar with the test fold is not trained on
    shared = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    for train_idx, test_idx in PurgedKFold(folds=3, horizon=1, embargo=0).split(shared):
        assert not set(shared[train_idx]) & set(shared[test_idx])


def test_scores_match_scikit_learn_and_a_hand_computed_ece() -> None:
    rng = np.random.default_rng(0)
    prob = rng.uniform(0, 1, 1_000)
    labels = (rng.uniform(0, 1, 1_000) < prob).astype(int)
    scores = score_probabilities(prob, labels)
    assert scores.brier == pytest.approx(brier_score_loss(labels, prob), rel=1e-12)
    assert scores.log_loss == pytest.approx(log_loss(labels, prob), rel=1e-9)
    # Two bins: forecasts 0.2 (observed 0.5) and 0.9 (observed 1.0) -> ECE = (2*0.3 + 2*0.1) / 4.
    hand = score_probabilities(np.array([0.2, 0.2, 0.9, 0.9]), np.array([0, 1, 1, 1]))
    assert hand.ece == pytest.approx(0.2)
    curve = reliability_curve(np.array([0.2, 0.2, 0.9, 0.9]), np.array([0, 1, 1, 1]))
    assert curve == {"forecast": [0.2, 0.9], "observed": [0.5, 1.0], "count": [2.0, 2.0]}
    with pytest.raises(InputError):
        score_probabilities(np.array([1.5]), np.array([1]))


def _learnable(n: int, seed: int) -> FeatureSet:
    """Samples whose outcome depends on the zscore feature; the prior says 0.5 throughout."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, len(FEATURE_NAMES)))
    z = features[:, FEATURE_NAMES.index("zscore")]
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-1.5 * z))).astype(np.int8)
    return FeatureSet(features=features, labels=labels, rows=np.arange(n) * 2, prior_prob=np.full(n, 0.5))


@pytest.mark.parametrize("estimator", ["hgb", "logistic"])
def test_a_learnable_edge_beats_the_prior_out_of_sample(estimator: str) -> None:
    data = _learnable(3_000, seed=1)
    model, report = train(data, TrainingConfig(estimator=estimator, max_iter=60))  # type: ignore[arg-type]
    assert report.model.brier < report.prior.brier * 0.9
    assert report.model.log_loss < report.prior.log_loss
    assert report.model.ece < 0.05
    assert report.folds == 5
    prob = model.predict(data.features[:10])
    assert prob.shape == (10,)
    assert bool(np.all((prob >= 0) & (prob <= 1)))
    with pytest.raises(InputError, match="features"):
        model.predict(np.zeros((1, 3)))


def test_pure_noise_does_not_beat_the_prior() -> None:
    rng = np.random.default_rng(2)
    n = 2_000
    data = FeatureSet(
        features=rng.normal(size=(n, len(FEATURE_NAMES))),
        labels=(rng.uniform(size=n) < 0.5).astype(np.int8),
        rows=np.arange(n),
        prior_prob=np.full(n, 0.5),
    )
    _, report = train(data, TrainingConfig(max_iter=40))
    assert report.improvement() < 0.005


def test_training_refuses_too_little_or_one_sided_data() -> None:
    data = _learnable(100, seed=3)
    with pytest.raises(InputError, match="too few"):
        train(data)
    one_sided = _learnable(500, seed=3)
    one_sided = FeatureSet(one_sided.features, np.ones(500, np.int8), one_sided.rows, one_sided.prior_prob)
    with pytest.raises(InputError, match="same outcome"):
        train(one_sided)


def test_registry_promotes_only_a_model_that_beats_the_prior_and_restores_the_last_champion(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(BlobStore.local(tmp_path / "blob"))
    assert registry.load_champion("momentum") is None
    policy = PromotionPolicy(min_brier_improvement=0.01)

    good = _learnable(2_000, seed=4)
    model, report = train(good, TrainingConfig(max_iter=40))
    card = registry.register(
        "momentum", model, report, good, training_window={"start": "a", "end": "b"}, now=WHEN
    )
    assert card.data_fingerprint == data_fingerprint(good)
    assert card.feature_hash == feature_hash()
    assert card.samples == 2_000
    first = registry.decide(card, policy, now=WHEN)
    assert first.promoted
    assert first.previous_champion is None
    assert registry.champion_version("momentum") == card.version

    second_data = _learnable(2_000, seed=5)
    model2, report2 = train(second_data, TrainingConfig(max_iter=40))
    later = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
    card2 = registry.register("momentum", model2, report2, second_data, training_window={}, now=later)
    assert registry.decide(card2, policy, now=later).promoted
    assert registry.champion_version("momentum") == card2.version

    loaded, loaded_card = registry.load_champion("momentum") or (None, None)
    assert loaded is not None and loaded_card is not None
    np.testing.assert_allclose(
        loaded.predict(second_data.features[:5]), model2.predict(second_data.features[:5])
    )

    restored = registry.restore_previous("momentum", actor="ops", reason="drift", now=later)
    assert restored == card.version
    assert registry.champion_version("momentum") == card.version
    with pytest.raises(NotFoundError):
        registry.restore_previous("momentum", actor="ops", reason="again", now=later)

    noise = FeatureSet(
        features=np.random.default_rng(6).normal(size=(1_000, len(FEATURE_NAMES))),
        labels=(np.random.default_rng(7).uniform(size=1_000) < 0.5).astype(np.int8),
        rows=np.arange(1_000),
        prior_prob=np.full(1_000, 0.5),
    )
    model3, report3 = train(noise, TrainingConfig(max_iter=20))
    card3 = registry.register("momentum", model3, report3, noise, training_window={}, now=later)
    refused = registry.decide(card3, policy, now=later)
    assert not refused.promoted
    assert "below the required" in refused.reason
    assert registry.champion_version("momentum") == card.version

    decisions = registry.decisions("momentum")
    assert [d.promoted for d in decisions].count(False) == 1
    assert any(d.reason.startswith("restored by ops") for d in decisions)
    assert sorted(registry.versions("momentum")) == sorted([card.version, card2.version, card3.version])


def test_registry_refuses_a_tampered_model_and_bad_names(tmp_path: Path) -> None:
    blob = BlobStore.local(tmp_path / "blob")
    registry = ModelRegistry(blob)
    data = _learnable(1_000, seed=8)
    model, report = train(data, TrainingConfig(max_iter=20))
    card = registry.register("breakout", model, report, data, training_window={}, now=WHEN)
    blob.put_bytes("trader-models", f"models/breakout/{card.version}/model.pkl", b"not the model")
    with pytest.raises(StorageError, match="hash"):
        registry.load("breakout", card.version)
    with pytest.raises(InputError):
        registry.card("../etc", "x")
    raw = json.loads(blob.get_text("trader-models", f"models/breakout/{card.version}/card.json"))
    assert raw["library_versions"]["scikit-learn"]
