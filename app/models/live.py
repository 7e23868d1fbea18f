"""Live calibration: the router's probabilities scored against what happened next.

Each router run records the probability it used (``prob``), the strategy's side on the
signal bar (``position``), that bar's time, its regime and the interval of the bars it
decided on (``interval``: the intraday refreshes decide on ``SCHEDULE_INTRADAY_INTERVAL``
bars, e.g. 5-minute ones; records without it are daily decisions). Once the next bar *of
that interval* has closed, the decision's outcome is known exactly as the model's label
defines it (:mod:`.features`): a win when ``side x (close[t+1] / close[t] - 1) > 0`` on the
decision's own bars, i.e. the outcome of holding the position over the next bar. The 18:00
report scores those outcomes per regime (Brier score, log loss, expected calibration error,
reliability curve) and flags a regime whose calibration error is above a setting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from app.domain.intervals import NEW_YORK
from app.models.metrics import reliability_curve, score_probabilities

__all__ = [
    "DAILY",
    "RealisedDecision",
    "bars_needed",
    "calibration_report",
    "decision_interval",
    "realised_outcomes",
]

DAILY = "1Day"
"""The interval of a run record that names none (the daily drill, and records written before
run records carried their interval)."""


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
    interval: str = DAILY
    """The bars the decision was made on, and its outcome measured over."""

    @property
    def outcome_day(self) -> date:
        """The New York trading day the outcome became known (a daily bar's own date)."""
        stamp = pd.Timestamp(self.outcome_time)
        if self.interval == DAILY:
            return stamp.tz_convert("UTC").date() if stamp.tzinfo is not None else stamp.date()
        return stamp.tz_convert(NEW_YORK).date()


def _as_timestamp(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def decision_interval(run: Mapping[str, Any]) -> str:
    """The interval of the bars ``run`` decided on (:data:`DAILY` when the record names none)."""
    value = run.get("interval")
    return value if isinstance(value, str) and value else DAILY


def _decision(run: Mapping[str, Any]) -> tuple[str, pd.Timestamp] | None:
    """(symbol, signal bar time) of a run that is a decision to score, else ``None``: a run
    without a probability in [0, 1], a side or a signal bar (no action, flat, or failed)."""
    prob, side = run.get("prob"), run.get("position")
    when = _as_timestamp(run.get("signal_bar_time"))
    symbol = str(run.get("symbol") or "")
    if when is None or prob is None or side in (None, 0, 0.0) or not symbol:
        return None
    if not (isinstance(prob, int | float) and math.isfinite(prob) and 0.0 <= prob <= 1.0):
        return None
    return symbol, when


def bars_needed(runs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], pd.Timestamp]:
    """For each (symbol, interval) the runs decided on: the earliest signal bar to be scored
    (the bars to fetch start there and must run past the newest decision's next bar)."""
    out: dict[tuple[str, str], pd.Timestamp] = {}
    for run in runs:
        decision = _decision(run)
        if decision is None:
            continue
        key = (decision[0], decision_interval(run))
        out[key] = min(out.get(key, decision[1]), decision[1])
    return out


def realised_outcomes(
    runs: Iterable[Mapping[str, Any]], bars: Mapping[tuple[str, str], pd.DataFrame]
) -> tuple[list[RealisedDecision], int]:
    """The decisions of ``runs`` whose next bar is in ``bars`` (one per symbol, strategy,
    interval and bar), and how many are still waiting for their next bar.

    ``bars`` holds each (symbol, interval)'s bars: a decision is scored on the bars of the
    interval it was made on (:func:`decision_interval`), its outcome over the next of them.
    A run that is not a decision (no probability, flat, no signal bar) is skipped.
    """
    seen: set[tuple[str, str, str, str]] = set()
    realised: list[RealisedDecision] = []
    pending = 0
    for run in runs:
        decision = _decision(run)
        if decision is None:
            continue
        symbol, when = decision
        prob, side = float(run["prob"]), float(run["position"])
        interval = decision_interval(run)
        key = (symbol, str(run.get("strategy") or ""), interval, when.isoformat())
        if key in seen:
            continue
        seen.add(key)
        frame = bars.get((symbol, interval))
        if frame is None or len(frame) == 0:
            pending += 1
            continue
        index = pd.DatetimeIndex(frame.index)
        at = int(index.searchsorted(when))
        if at >= len(index) or index[at] != when or at + 1 >= len(index):
            pending += 1
            continue
        close = frame["close"].to_numpy(dtype=np.float64)
        move = side * (close[at + 1] / close[at] - 1.0)
        prior = run.get("prior") or {}
        realised.append(
            RealisedDecision(
                symbol=symbol,
                strategy=key[1],
                bar_time=key[3],
                outcome_time=index[at + 1].isoformat(),
                regime=str(run.get("regime") or "unknown"),
                prob=prob,
                side=side,
                won=int(move > 0.0),
                prior=str(prior.get("version") or "beta"),
                interval=interval,
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
        "intervals": {
            i: sum(1 for d in decisions if d.interval == i) for i in sorted({d.interval for d in decisions})
        },
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
