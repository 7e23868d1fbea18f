"""Scores of probability forecasts: Brier score, log loss, calibration error, reliability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.errors import InputError

__all__ = ["ProbabilityScores", "reliability_curve", "score_probabilities"]

_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class ProbabilityScores:
    """Out-of-sample scores of one set of probabilities (lower is better for each)."""

    brier: float
    log_loss: float
    ece: float
    """Expected calibration error over equal-width bins, weighted by bin size."""
    samples: int
    base_rate: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "brier": self.brier,
            "log_loss": self.log_loss,
            "ece": self.ece,
            "samples": self.samples,
            "base_rate": self.base_rate,
        }


def _check(prob: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(prob, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise InputError(f"probabilities {p.shape} and labels {y.shape} must be 1-d and equal in length")
    if p.size == 0:
        raise InputError("no samples to score")
    if not bool(np.all(np.isfinite(p))) or bool(np.any((p < 0.0) | (p > 1.0))):
        raise InputError("probabilities must be finite and within [0, 1]")
    if not bool(np.all((y == 0.0) | (y == 1.0))):
        raise InputError("labels must be 0 or 1")
    return p, y


def reliability_curve(prob: np.ndarray, labels: np.ndarray, *, bins: int = 10) -> dict[str, list[float]]:
    """Per equal-width bin: mean forecast, observed frequency and count (empty bins left out)."""
    p, y = _check(prob, labels)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    forecast = np.bincount(index, weights=p, minlength=bins)
    observed = np.bincount(index, weights=y, minlength=bins)
    filled = counts > 0
    return {
        "forecast": (forecast[filled] / counts[filled]).tolist(),
        "observed": (observed[filled] / counts[filled]).tolist(),
        "count": counts[filled].tolist(),
    }


def score_probabilities(prob: np.ndarray, labels: np.ndarray, *, bins: int = 10) -> ProbabilityScores:
    """Brier score, log loss and expected calibration error of ``prob`` for ``labels``."""
    p, y = _check(prob, labels)
    clipped = np.clip(p, _EPS, 1.0 - _EPS)
    curve = reliability_curve(p, y, bins=bins)
    counts = np.asarray(curve["count"])
    gaps = np.abs(np.asarray(curve["forecast"]) - np.asarray(curve["observed"]))
    return ProbabilityScores(
        brier=float(np.mean((p - y) ** 2)),
        log_loss=float(-np.mean(y * np.log(clipped) + (1.0 - y) * np.log(1.0 - clipped))),
        ece=float(np.sum(gaps * counts) / p.size),
        samples=int(p.size),
        base_rate=float(y.mean()),
    )
