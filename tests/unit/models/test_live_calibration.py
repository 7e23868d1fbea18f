"""Live calibration: router decisions scored against their next-bar outcomes, per regime."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.models.live import bars_needed, calibration_report, realised_outcomes

INDEX = pd.date_range("2025-01-02", periods=4, freq="B", tz="UTC")
BARS = {
    ("AAA", "1Day"): pd.DataFrame({"close": [100.0, 101.0, 99.0, 99.5]}, index=INDEX),
    ("BBB", "1Day"): pd.DataFrame({"close": [50.0, 49.0, 49.5, 49.0]}, index=INDEX),
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
    assert {d.interval for d in realised} == {"1Day"}  # no interval recorded: daily decisions
    assert realised[0].outcome_day == INDEX[1].date()
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


# One New York session's 5-minute bars (fixed, never today's date): 09:30 ... 10:00 ET.
FIVE = pd.date_range("2026-11-18 14:30", periods=7, freq="5min", tz="UTC")
FIVE_CLOSE = [100.0, 100.4, 100.1, 100.3, 99.9, 100.0, 100.2]
DAY = pd.DatetimeIndex(["2026-11-17", "2026-11-18"], tz="UTC")


def test_an_intraday_decision_is_scored_against_the_next_bar_of_its_own_interval() -> None:
    # the day as a whole rose (daily close 99 -> 101), so every long would be a win against
    # the daily bars; against the next 5-minute bar the 09:45 long is a loss (100.3 -> 99.9)
    bars = {
        ("AAA", "5Min"): pd.DataFrame({"close": FIVE_CLOSE}, index=FIVE),
        ("AAA", "1Day"): pd.DataFrame({"close": [99.0, 101.0]}, index=DAY),
    }

    def run(bar: pd.Timestamp, side: float, interval: str | None) -> dict[str, object]:
        record: dict[str, object] = {
            "symbol": "AAA",
            "strategy": "momentum",
            "signal_bar_time": bar.isoformat(),
            "prob": 0.8,
            "position": side,
            "regime": "trend_up",
            "prior": {"version": None},
        }
        if interval is not None:
            record["interval"] = interval
        return record

    runs = [
        run(FIVE[3], 1.0, "5Min"),  # 09:45 long: 100.3 -> 99.9 at 09:50, a loss
        run(FIVE[2], 1.0, "5Min"),  # 09:40 long: 100.1 -> 100.3, a win
        run(FIVE[4], -1.0, "5Min"),  # 09:50 short: 99.9 -> 100.0, a loss
        run(FIVE[6], 1.0, "5Min"),  # 10:00: its next bar has not closed yet
        run(DAY[0], 1.0, None),  # a daily decision of the day before: 99 -> 101, a win
    ]
    assert bars_needed(runs) == {("AAA", "5Min"): FIVE[2], ("AAA", "1Day"): DAY[0]}
    realised, pending = realised_outcomes(runs, bars)
    assert pending == 1
    got = [(d.interval, d.bar_time, d.outcome_time, d.won) for d in realised]
    assert got == [
        ("5Min", FIVE[3].isoformat(), FIVE[4].isoformat(), 0),
        ("5Min", FIVE[2].isoformat(), FIVE[3].isoformat(), 1),
        ("5Min", FIVE[4].isoformat(), FIVE[5].isoformat(), 0),
        ("1Day", DAY[0].isoformat(), DAY[1].isoformat(), 1),
    ]
    # every outcome is known on the same New York day (the session), daily or intraday
    assert {d.outcome_day for d in realised} == {DAY[1].date()}
    # a 5-minute decision is never looked up in the daily bars: without its own bars it waits
    assert realised_outcomes([run(FIVE[3], 1.0, "5Min")], {("AAA", "1Day"): bars[("AAA", "1Day")]}) == ([], 1)
    report = calibration_report(realised, pending=pending, drift_max=0.5, min_samples=1)
    assert report["intervals"] == {"1Day": 1, "5Min": 3}
    assert report["regimes"]["trend_up"]["brier"] == pytest.approx((0.8**2 * 2 + 0.2**2 * 2) / 4)
