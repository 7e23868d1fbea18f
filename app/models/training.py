"""Fit a calibrated win-probability classifier and score it out of sample against the Beta prior.

Procedure (:func:`train`):

1. Out-of-sample raw scores: for each purged, embargoed fold, the base classifier is fitted on
   the other folds' samples and scores the fold.
2. Out-of-sample calibration: each fold's raw scores are calibrated by a map (isotonic or
   Platt) fitted on the *other* folds' raw out-of-sample scores, so no probability is
   calibrated on its own outcome. These calibrated probabilities are what the report scores,
   next to the Beta prior's ``p`` on exactly the same samples.
3. The shipped model: the base classifier refitted on every sample, with a calibration map
   fitted on all out-of-sample raw scores.

Missing feature values (signal warm-up) are handled by the estimators: the gradient-boosted
trees natively, the logistic regression after median imputation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np

from app.errors import InputError
from app.models.fastpredict import FastScorer, IsotonicMap
from app.models.features import FEATURE_NAMES, FeatureSet, build_features
from app.models.metrics import ProbabilityScores, reliability_curve, score_probabilities
from app.models.validation import PurgedKFold

__all__ = ["TrainingConfig", "TrainingReport", "WinProbabilityModel", "train"]

Estimator = Literal["hgb", "logistic"]
Calibration = Literal["isotonic", "sigmoid"]
MIN_SAMPLES = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingConfig:
    """How the model is fitted and validated."""

    estimator: Estimator = "hgb"
    calibration: Calibration = "isotonic"
    cv: PurgedKFold = field(default_factory=PurgedKFold)
    max_iter: int = 100
    """Boosting iterations (hgb) or solver iterations (logistic)."""
    max_leaf_nodes: int = 15
    l2_regularization: float = 1.0
    random_state: int = 0
    max_fit_rows: int | None = 100_000
    """Each base-classifier fit (every fold's and the final refit) uses at most this many of its
    training samples, evenly spaced over them in time, so a fit on a million rows stays within a
    minute on two cores; out-of-sample scores and the calibration still cover every sample.
    ``None``: every sample."""

    def __post_init__(self) -> None:
        if self.estimator not in ("hgb", "logistic"):
            raise InputError(f"unknown estimator {self.estimator!r}: use hgb or logistic")
        if self.calibration not in ("isotonic", "sigmoid"):
            raise InputError(f"unknown calibration {self.calibration!r}: use isotonic or sigmoid")
        if self.max_iter < 1 or self.max_leaf_nodes < 2:
            raise InputError("max_iter must be >= 1 and max_leaf_nodes >= 2")
        if self.max_fit_rows is not None and self.max_fit_rows < MIN_SAMPLES:
            raise InputError(f"max_fit_rows must be >= {MIN_SAMPLES} (or None for every sample)")


def _base_estimator(config: TrainingConfig) -> Any:
    if config.estimator == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=config.max_iter,
            max_leaf_nodes=config.max_leaf_nodes,
            l2_regularization=config.l2_regularization,
            early_stopping=False,
            random_state=config.random_state,
        )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=config.max_iter),
    )


class _Calibrator:
    """A monotone map from raw scores to probabilities."""

    def __init__(self, method: Calibration) -> None:
        self.method = method
        self._model: Any = None

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> _Calibrator:
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self._model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
        else:
            from sklearn.linear_model import LogisticRegression

            self._model = LogisticRegression().fit(scores.reshape(-1, 1), labels)
        return self

    def __call__(self, scores: np.ndarray, fast: IsotonicMap | None = None) -> np.ndarray:
        if fast is not None:
            out = fast(scores)
        elif self.method == "isotonic":
            out = self._model.predict(scores)
        else:
            out = self._model.predict_proba(scores.reshape(-1, 1))[:, 1]
        return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)


def _capped(indices: np.ndarray, cap: int | None) -> np.ndarray:
    """At most ``cap`` of ``indices``, evenly spaced over them (all of them when fewer)."""
    if cap is None or indices.size <= cap:
        return indices
    return indices[np.linspace(0, indices.size - 1, cap).round().astype(np.int64)]


def _raw_scores(estimator: Any, features: np.ndarray) -> np.ndarray:
    return np.asarray(estimator.predict_proba(features)[:, 1], dtype=np.float64)


_SMALL_BATCH = 256


@cache
def _threadpools() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


_NOT_BUILT: Any = object()


class WinProbabilityModel:
    """A fitted base classifier and its calibration map: features in, P(win) out.

    A few rows (the router's one or two bars) are scored by :class:`~app.models.fastpredict.FastScorer`
    when the model is one it evaluates exactly (gradient-boosted trees, isotonic map), built on
    first use and never pickled; larger batches and other models go through scikit-learn.
    """

    def __init__(self, estimator: Any, calibrator: _Calibrator, feature_names: tuple[str, ...]) -> None:
        self.estimator = estimator
        self.calibrator = calibrator
        self.feature_names = feature_names
        self._fast: FastScorer | None = _NOT_BUILT

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # derived from the estimator; rebuilt after loading
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fast = _NOT_BUILT

    def _fast_scorer(self) -> FastScorer | None:
        fast = self.__dict__.get("_fast", _NOT_BUILT)
        if fast is _NOT_BUILT:
            fast = FastScorer.of(self.estimator, getattr(self.calibrator, "_model", None))
            self._fast = fast
        return fast  # type: ignore[no-any-return]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Calibrated win probabilities for (rows x features) ``features``.

        Raises:
            InputError: the column count differs from the model's feature list.
        """
        matrix = np.asarray(features, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.shape[1] != len(self.feature_names):
            raise InputError(f"model expects {len(self.feature_names)} features, got {matrix.shape[1]}")
        if matrix.shape[0] <= _SMALL_BATCH:
            fast = self._fast_scorer()
            if fast is not None and fast.trees.features == matrix.shape[1]:
                return self.calibrator(fast.trees.predict_proba(matrix), fast.calibration)
        from sklearn import config_context

        with config_context(assume_finite=True):
            if matrix.shape[0] > _SMALL_BATCH:
                return self.calibrator(_raw_scores(self.estimator, matrix))
            # Waking an OpenMP team costs more than scoring a few rows, and far more on a
            # busy host: the router scores one bar, so it scores it on one thread.
            with _threadpools().limit(limits=1, user_api="openmp"):
                return self.calibrator(_raw_scores(self.estimator, matrix))

    def score_bars(
        self,
        close: np.ndarray,
        signals: Any,
        side: np.ndarray,
        prior_prob: np.ndarray,
        prior_payoff: np.ndarray,
        regime_code: np.ndarray,
    ) -> np.ndarray:
        """Calibrated win probabilities of the given bars (one per bar, flat bars included):
        the decision pipeline's hook (:class:`app.decision.pipeline.ProbabilityModel`)."""
        data = build_features(close, signals, side, prior_prob, prior_payoff, regime_code, with_labels=False)
        return self.predict(data.features)


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """Out-of-sample scores of the model and of the Beta prior on the same samples."""

    model: ProbabilityScores
    prior: ProbabilityScores
    oos_prob: np.ndarray
    oos_rows: np.ndarray
    reliability: dict[str, list[float]]
    prior_reliability: dict[str, list[float]]
    folds: int
    fit_seconds: float

    def improvement(self) -> float:
        """Relative Brier improvement over the prior (0.02 = 2 % lower Brier score)."""
        if self.prior.brier <= 0.0:
            return 0.0
        return (self.prior.brier - self.model.brier) / self.prior.brier

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.as_dict(),
            "prior": self.prior.as_dict(),
            "brier_improvement": self.improvement(),
            "folds": self.folds,
            "fit_seconds": self.fit_seconds,
            "reliability": self.reliability,
            "prior_reliability": self.prior_reliability,
        }


def train(
    data: FeatureSet, config: TrainingConfig | None = None
) -> tuple[WinProbabilityModel, TrainingReport]:
    """Fit the model on ``data`` and report its out-of-sample scores against the prior.

    Raises:
        InputError: fewer than :data:`MIN_SAMPLES` samples, one class only, or a feature
            matrix that does not match :data:`FEATURE_NAMES`.
    """
    config = config or TrainingConfig()
    n = len(data)
    if n < MIN_SAMPLES:
        raise InputError(f"{n} samples are too few to train (need >= {MIN_SAMPLES})")
    if data.features.shape != (n, len(FEATURE_NAMES)):
        raise InputError(f"feature matrix {data.features.shape} does not match {len(FEATURE_NAMES)} features")
    labels = data.labels.astype(np.int64)
    if np.unique(labels).size < 2:
        raise InputError("every sample has the same outcome: nothing to learn")
    started = time.perf_counter()
    raw = np.full(n, np.nan)
    folds = list(config.cv.split(data.rows))
    for train_idx, test_idx in folds:
        fit_idx = _capped(train_idx, config.max_fit_rows)
        if np.unique(labels[fit_idx]).size < 2:
            raise InputError("a training fold has one class only: use fewer folds or more history")
        estimator = _base_estimator(config).fit(data.features[fit_idx], labels[fit_idx])
        raw[test_idx] = _raw_scores(estimator, data.features[test_idx])
    oos = np.full(n, np.nan)
    for _, test_idx in folds:
        others = np.ones(n, dtype=bool)
        others[test_idx] = False
        oos[test_idx] = _Calibrator(config.calibration).fit(raw[others], labels[others])(raw[test_idx])
    everything = _capped(np.arange(n, dtype=np.int64), config.max_fit_rows)
    if everything.size == n:
        final = _base_estimator(config).fit(data.features, labels)
    else:
        final = _base_estimator(config).fit(data.features[everything], labels[everything])
    model = WinProbabilityModel(final, _Calibrator(config.calibration).fit(raw, labels), FEATURE_NAMES)
    prior = np.clip(np.nan_to_num(data.prior_prob, nan=0.5), 0.0, 1.0)
    report = TrainingReport(
        model=score_probabilities(oos, labels),
        prior=score_probabilities(prior, labels),
        oos_prob=oos,
        oos_rows=data.rows,
        reliability=reliability_curve(oos, labels),
        prior_reliability=reliability_curve(prior, labels),
        folds=len(folds),
        fit_seconds=time.perf_counter() - started,
    )
    return model, report
