"""Live calibration: the router's probabilities scored against what happened next.

Each router run records the probability it used (``prob``), the strategy's side on the
signal bar (``position``), that bar's time and its regime. Once the next bar has closed, the
decision's outcome is known exactly as the model's label defines it (:mod:`.features`):
a win when ``side x (close[t+1] / close[t] - 1) > 0``. The 18:00 report scores those
outcomes per regime (Brier score, log loss, expected calibration error, reliability curve)
and flags a regime whose calibration error is above a setting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from app.models.metrics import reliability_curve, score_probabilities

__all__ = ["RealisedDecision", "calibration_report", "realised_outcomes"]


@dataclass(frozen=True, slots=True)
class RealisedDecision:
    """One router decision with a side and its next-bar outcome."""

    symbol: str
    strategy: str
    bar_time: str
    outcome_time: str
    """The next bar's time: when the outcome became known."""
    regime: str
    prob: float
    side: float
    won: int
    prior: str
    """``beta`` or the model version the probability came from."""


def _as_timestamp(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def realised_outcomes(
    runs: Iterable[Mapping[str, Any]], bars: Mapping[str, pd.DataFrame]
) -> tuple[list[RealisedDecision], int]:
    """The decisions of ``runs`` whose next bar is in ``bars`` (one per symbol, strategy and bar),
    and how many are still waiting for their next bar.

    A run without a probability, a side or a signal bar (no action, flat, or failed) is not a
    decision to score and is skipped.
    """
    seen: set[tuple[str, str, str]] = set()
    realised: list[RealisedDecision] = []
    pending = 0
    for run in runs:
        prob, side = run.get("prob"), run.get("position")
        when = _as_timestamp(run.get("signal_bar_time"))
        symbol = str(run.get("symbol") or "")
        if when is None or prob is None or side in (None, 0, 0.0) or not symbol:
            continue
        if not (isinstance(prob, int | float) and math.isfinite(prob) and 0.0 <= prob <= 1.0):
            continue
        key = (symbol, str(run.get("strategy") or ""), when.isoformat())
        if key in seen:
            continue
        seen.add(key)
        frame = bars.get(symbol)
        if frame is None or len(frame) == 0:
            pending += 1
            continue
        index = pd.DatetimeIndex(frame.index)
        at = int(index.searchsorted(when))
        if at >= len(index) or index[at] != when or at + 1 >= len(index):
            pending += 1
            continue
        close = frame["close"].to_numpy(dtype=np.float64)
        move = float(side) * (close[at + 1] / close[at] - 1.0)
        prior = run.get("prior") or {}
        realised.append(
            RealisedDecision(
                symbol=symbol,
                strategy=key[1],
                bar_time=key[2],
                outcome_time=index[at + 1].isoformat(),
                regime=str(run.get("regime") or "unknown"),
                prob=float(prob),
                side=float(side),
                won=int(move > 0.0),
                prior=str(prior.get("version") or "beta"),
            )
        )
    return realised, pending


def _scores(decisions: list[RealisedDecision]) -> dict[str, Any]:
    prob = np.array([d.prob for d in decisions])
    won = np.array([d.won for d in decisions], dtype=np.float64)
    return {
        **score_probabilities(prob, won).as_dict(),
        "mean_prob": float(prob.mean()),
        "reliability": reliability_curve(prob, won),
    }


def calibration_report(
    decisions: list[RealisedDecision],
    *,
    pending: int,
    drift_max: float,
    min_samples: int,
    when: datetime | None = None,
) -> dict[str, Any]:
    """Scores overall and per regime; ``drifting`` lists the regimes whose calibration error
    is above ``drift_max`` with at least ``min_samples`` outcomes."""
    report: dict[str, Any] = {
        "scored": len(decisions),
        "pending": pending,
        "drift_max": drift_max,
        "min_samples": min_samples,
        "overall": _scores(decisions) if decisions else None,
        "regimes": {},
        "drifting": [],
        "decisions": [asdict(d) for d in decisions],
    }
    if when is not None:
        report["scored_at"] = when.isoformat()
    for regime in sorted({d.regime for d in decisions}):
        group = [d for d in decisions if d.regime == regime]
        scores = _scores(group)
        judged = len(group) >= min_samples
        scores["drift"] = bool(judged and scores["ece"] > drift_max)
        scores["judged"] = judged
        report["regimes"][regime] = scores
        if scores["drift"]:
            report["drifting"].append(regime)
    return report
