"""Live calibration on a replayed day: 5-minute decisions scored against the next 5-minute bar.

The intraday refreshes route the watchlist on ``SCHEDULE_INTRADAY_INTERVAL=5Min`` bars of a
recorded market (replay vendor, platform clock from ``REPLAY_CLOCK_FILE``, never the wall
clock); the 18:00 reports job then scores every decision the router made with a side and a
probability against the outcome of holding that side over the next 5-minute bar, read from
the same recording, and the models overview (what ``GET /models/overview`` returns to the
dashboard) serves that calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from app.api.routes.status import models_overview
from app.config import Settings
from tests.integration.portfolio.replay_day import ET, Day, replay_day

pytestmark = pytest.mark.integration

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN")
REFRESHES = ((10, 30), (12, 0), (13, 15), (14, 30), (15, 30))


@pytest.fixture
def day(tmp_path: Path, make_settings: Callable[..., Settings]) -> Iterator[Day]:
    with replay_day(
        tmp_path, make_settings, SYMBOLS, SCHEDULE_STRATEGY="momentum", MODEL_CALIBRATION_MIN_SAMPLES=1
    ) as built:
        yield built


def test_five_minute_decisions_are_scored_against_the_next_five_minute_bar(day: Day) -> None:
    decisions: dict[tuple[str, str], dict[str, Any]] = {}
    for hour, minute in REFRESHES:
        label = f"intraday_refresh_{hour:02d}{minute:02d}"
        day.at(hour, minute)
        day.jobs.run(label, day.session)
        record = day.artifact(label)
        assert record["routed"] is True and record["interval"] == "5Min"
        for run in record["runs"]:
            assert run["interval"] == "5Min", run  # every run names the bars it decided on
            # the newest 5-minute bar that had ended when the refresh ran
            ended = pd.Timestamp(day.session.isoformat() + f" {hour:02d}:{minute:02d}", tz=ET) - pd.Timedelta(
                minutes=5
            )
            assert pd.Timestamp(run["signal_bar_time"]) == ended, run
            if run["prob"] is not None and run["position"]:
                decisions[(run["symbol"], pd.Timestamp(run["signal_bar_time"]).isoformat())] = run
    assert len(decisions) >= 3, decisions  # the recording's rallies give the router sides to take

    day.at(18, 0)
    day.jobs.run("reports", day.session)
    calibration = day.artifact("reports")["calibration"]
    assert calibration["errors"] == {}
    assert calibration["scored"] == len(decisions) and calibration["pending"] == 0
    assert calibration["intervals"] == {"5Min": len(decisions)}
    daily_close = {s: day.recording.daily[s]["close"] for s in SYMBOLS}
    differs_from_daily = 0
    for scored in calibration["decisions"]:
        run = decisions[(scored["symbol"], scored["bar_time"])]
        bars = day.recording.intraday[scored["symbol"]]["close"]
        at = bars.index.get_loc(pd.Timestamp(scored["bar_time"]))
        # the outcome: holding the decision's side over the next 5-minute bar
        assert (
            pd.Timestamp(scored["outcome_time"])
            == bars.index[at + 1]
            == bars.index[at] + pd.Timedelta(minutes=5)
        )
        move = run["position"] * (bars.iloc[at + 1] / bars.iloc[at] - 1.0)
        assert scored["won"] == int(move > 0), (scored, move)
        assert (
            scored["interval"] == "5Min"
            and scored["prob"] == run["prob"]
            and scored["regime"] == run["regime"]
        )
        # what the same side earned over the session's daily bar (the former yardstick)
        day_move = run["position"] * (
            daily_close[scored["symbol"]].iloc[-1] / daily_close[scored["symbol"]].iloc[-2] - 1
        )
        differs_from_daily += int(day_move > 0) != scored["won"]
    assert differs_from_daily > 0, "no decision tells the 5-minute outcome from the daily one"
    wins = sum(d["won"] for d in calibration["decisions"])
    assert calibration["overall"]["base_rate"] == pytest.approx(wins / len(decisions))
    markdown = day.jobs.output_path(day.session, "reports").with_suffix(".md").read_text()
    assert f"each against the next bar of its own interval: {len(decisions)} on 5Min bars" in markdown

    # the dashboard's feed: the models overview serves this calibration, reliability per regime
    overview = models_overview(day.services)
    assert overview.calibration is not None and overview.calibration_error is None
    assert overview.calibration.session == day.session
    assert overview.calibration.scored == len(decisions)
    assert overview.calibration.intervals == {"5Min": len(decisions)}
    for regime, scores in overview.calibration.regimes.items():
        assert sum(scores.reliability.count) == scores.samples, regime
