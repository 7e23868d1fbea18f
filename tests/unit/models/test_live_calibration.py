"""Live calibration: router decisions scored against their next-bar outcomes, per regime."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.models.live import calibration_report, realised_outcomes

INDEX = pd.date_range("2025-01-02", periods=4, freq="B", tz="UTC")
BARS = {
    "AAA": pd.DataFrame({"close": [100.0, 101.0, 99.0, 99.5]}, index=INDEX),
    "BBB": pd.DataFrame({"close": [50.0, 49.0, 49.5, 49.0]}, index=INDEX),
}


def _run(symbol: str, bar: int, prob: float | None, position: float | None, regime: str) -> dict[str, object]:
    return {
        "symbol": symbol,
        "strategy": "momentum",
        "signal_bar_time": INDEX[bar].isoformat(),
        "prob": prob,
        "position": position,
        "regime": regime,
        "prior": {"version": "v1"} if symbol == "AAA" else {"version": None},
    }


def test_outcomes_follow_the_label_and_skip_what_is_not_a_decision() -> None:
    runs = [
        _run("AAA", 0, 0.7, 1.0, "trend"),  # 100 -> 101 long: win
        _run("AAA", 0, 0.7, 1.0, "trend"),  # the same decision from a later run: counted once
        _run("AAA", 1, 0.6, -1.0, "trend"),  # 101 -> 99 short: win
        _run("BBB", 0, 0.8, 1.0, "range"),  # 50 -> 49 long: loss
        _run("BBB", 3, 0.5, 1.0, "range"),  # last bar: pending
        _run("BBB", 1, None, 1.0, "range"),  # no probability: skipped
        _run("BBB", 2, 0.5, 0.0, "range"),  # flat: skipped
        _run("CCC", 0, 0.5, 1.0, "range"),  # no bars: pending
    ]
    realised, pending = realised_outcomes(runs, BARS)
    assert pending == 2
    assert [(d.symbol, d.won, d.side) for d in realised] == [
        ("AAA", 1, 1.0),
        ("AAA", 1, -1.0),
        ("BBB", 0, 1.0),
    ]
    assert realised[0].outcome_time == INDEX[1].isoformat() and realised[0].prior == "v1"
    assert realised[2].prior == "beta"

    report = calibration_report(realised, pending=pending, drift_max=0.5, min_samples=1)
    trend, range_ = report["regimes"]["trend"], report["regimes"]["range"]
    assert trend["brier"] == pytest.approx(((0.7 - 1) ** 2 + (0.6 - 1) ** 2) / 2)
    assert range_["brier"] == pytest.approx(0.8**2)
    assert range_["ece"] == pytest.approx(0.8) and range_["drift"] is True
    assert trend["drift"] is False
    assert report["drifting"] == ["range"]
    assert report["overall"]["brier"] == pytest.approx(np.mean([0.09, 0.16, 0.64]))
    assert trend["reliability"]["count"] == [1.0, 1.0]
    quiet = calibration_report(realised, pending=pending, drift_max=0.5, min_samples=2)
    assert quiet["drifting"] == [] and quiet["regimes"]["range"]["judged"] is False
    empty = calibration_report([], pending=0, drift_max=0.1, min_samples=1)
    assert empty["overall"] is None and empty["regimes"] == {}
