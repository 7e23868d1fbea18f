"""The few-row scorer gives scikit-learn's probabilities bit for bit, and the router's
single-bar scoring equals the batch path on every bar."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from app.decision.pipeline import apply_probability_model, decide
from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.models.fastpredict import FastScorer, IsotonicMap, TreeEnsemble
from app.models.features import FEATURE_NAMES, FeatureSet, build_features
from app.models.training import TrainingConfig, WinProbabilityModel, train
from app.risk.sizing import RiskConfig
from app.strategies import get_strategy

pytestmark = pytest.mark.unit

KELLY = RiskConfig(agent="fractional_kelly", fraction=0.5, max_position_fraction=0.4, allow_short=True)


def _synthetic(rows: int, seed: int) -> FeatureSet:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, len(FEATURE_NAMES)))
    features[rng.uniform(size=features.shape) < 0.05] = np.nan
    edge = 0.8 * np.nan_to_num(features[:, 3]) - 0.5 * np.nan_to_num(features[:, 7])
    labels = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-edge))).astype(np.int8)
    return FeatureSet(features=features, labels=labels, rows=np.arange(rows), prior_prob=np.full(rows, 0.5))


@pytest.fixture(scope="module")
def hgb() -> WinProbabilityModel:
    return train(_synthetic(4_000, 1), TrainingConfig(max_iter=40, max_leaf_nodes=15))[0]


def _probe(rows: int) -> np.ndarray:
    matrix = _synthetic(rows, 9).features.copy()
    matrix[::13, 4] = np.inf
    matrix[::17, 8] = -np.inf
    matrix[::5, 2] = np.nan
    return matrix


def test_trees_equal_sklearn_bit_for_bit(hgb: WinProbabilityModel) -> None:
    trees = TreeEnsemble.of(hgb.estimator)
    assert trees is not None and trees.features == len(FEATURE_NAMES)
    matrix = _probe(3_000)
    expected = hgb.estimator.predict_proba(matrix)[:, 1]
    got = np.concatenate([trees.predict_proba(matrix[i : i + 3]) for i in range(0, 3_000, 3)])
    assert np.array_equal(got, expected)
    assert np.array_equal(trees.raw(matrix[:50]), hgb.estimator._raw_predict(matrix[:50])[:, 0])


def test_model_predict_small_batches_equal_the_sklearn_path(hgb: WinProbabilityModel) -> None:
    matrix = _probe(2_000)
    batch = hgb.predict(matrix)  # > 256 rows: scikit-learn
    assert np.array_equal(batch, hgb.calibrator(hgb.estimator.predict_proba(matrix)[:, 1]))
    singles = np.array([hgb.predict(matrix[i])[0] for i in range(matrix.shape[0])])
    assert np.array_equal(singles, batch)
    assert hgb._fast_scorer() is not None and hgb._fast_scorer().calibration is not None  # type: ignore[union-attr]


def test_fast_scorer_is_rebuilt_after_pickling_and_never_stored(hgb: WinProbabilityModel) -> None:
    hgb.predict(_probe(2))
    blob = pickle.dumps(hgb)
    assert b"FastScorer" not in blob and b"TreeEnsemble" not in blob
    loaded = pickle.loads(blob)
    matrix = _probe(40)
    assert np.array_equal(loaded.predict(matrix), hgb.predict(matrix))


def test_other_models_fall_back_to_sklearn() -> None:
    data = _synthetic(1_500, 4)
    logistic = train(data, TrainingConfig(estimator="logistic", max_iter=200))[0]
    assert logistic._fast_scorer() is None
    platt = train(data, TrainingConfig(max_iter=10, calibration="sigmoid"))[0]
    fast = platt._fast_scorer()
    assert isinstance(fast, FastScorer) and fast.calibration is None
    assert IsotonicMap.of(platt.calibrator._model) is None
    matrix = _synthetic(30, 9).features  # NaNs, no infinities (the logistic imputer refuses them)
    for model in (logistic, platt):
        expected = model.calibrator(model.estimator.predict_proba(matrix)[:, 1])
        assert np.array_equal(np.array([model.predict(row)[0] for row in matrix]), expected)


def _bars(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    index = pd.date_range("2019-01-02", periods=n, freq="B", tz="UTC")
    return pd.DataFrame(
        {
            "open": close,
            "high": close * (1 + rng.uniform(0, 0.01, n)),
            "low": close * (1 - rng.uniform(0, 0.01, n)),
            "close": close,
            "volume": 1e6,
        },
        index=index,
    )


def test_single_bar_scoring_equals_the_batch_path_on_every_bar() -> None:
    bars = _bars(1_200, 21)
    signals = compute_signals(bars)
    regimes = compute_regimes(bars, signals)
    frame = decide(bars, signals, regimes, get_strategy("momentum", {}), KELLY)
    data = build_features(
        bars["close"].to_numpy(), signals, frame.position, frame.prob, frame.payoff, frame.regime_code
    )
    model = train(data, TrainingConfig(max_iter=30))[0]
    batch = apply_probability_model(frame, bars, signals, model, KELLY)  # every bar with a side at once
    sided = np.flatnonzero(frame.position != 0.0)
    assert sided.size > 300  # the batch goes through scikit-learn, the single bars do not
    for row in sided:
        single = apply_probability_model(frame, bars, signals, model, KELLY, np.array([row]))
        assert single.prob[row] == batch.prob[row]
        assert single.frac[row] == batch.frac[row]
        assert single.target[row] == batch.target[row]
    pair = apply_probability_model(frame, bars, signals, model, KELLY, sided[-2:])
    assert np.array_equal(pair.prob[sided[-2:]], batch.prob[sided[-2:]])


def test_features_of_a_frame_with_a_text_column_match_the_numeric_frame() -> None:
    bars = _bars(300, 5)
    signals = compute_signals(bars)
    side = np.where(np.arange(300) % 3 == 0, 0.0, 1.0)
    args = (np.full(300, 0.55), np.full(300, 1.1), np.arange(300) % 7)
    plain = build_features(bars["close"].to_numpy(), signals, side, *args)
    tagged = build_features(bars["close"].to_numpy(), signals.assign(note="x"), side, *args)
    assert np.array_equal(plain.features, tagged.features, equal_nan=True)
    assert np.array_equal(plain.rows, tagged.rows)
    one = build_features(
        bars["close"].to_numpy()[[250]],
        signals.iloc[[250]],
        side[[250]],
        *(a[[250]] for a in args),
        with_labels=False,
    )
    assert np.array_equal(one.features[0], plain.features[plain.rows == 250][0], equal_nan=True)
