from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.config import Settings
from app.workers.scheduler import SCHEDULE, Scheduler, is_session, occurrences

PACIFIC = ZoneInfo("America/Los_Angeles")


def test_jobs_run_only_on_nyse_sessions(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    start = datetime(2026, 11, 25, 0, 0, tzinfo=PACIFIC)  # Wednesday before Thanksgiving
    days = sorted({o.session for o in occurrences(settings, start, days=5)})
    # Thanksgiving (Thu 26th) and the weekend are skipped; the half day (Fri 27th) trades.
    assert days == [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30)]
    assert not is_session(date(2026, 11, 26))


def test_times_are_wall_clock_in_the_schedule_zone_across_dst(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    before = next(
        o for o in occurrences(settings, datetime(2026, 3, 6, tzinfo=UTC)) if o.job.name == "premarket_scan"
    )
    after = next(
        o for o in occurrences(settings, datetime(2026, 3, 9, tzinfo=UTC)) if o.job.name == "premarket_scan"
    )
    assert before.due.astimezone(UTC).hour == 12  # 04:00 PST
    assert after.due.astimezone(UTC).hour == 11  # 04:00 PDT
    assert (before.due.hour, after.due.hour) == (4, 4)


def test_schedule_matches_the_runbook_table() -> None:
    times = [(job.name, job.at.strftime("%H:%M")) for job in SCHEDULE]
    assert times == [
        ("startup_check", "03:58"),
        ("premarket_scan", "04:00"),
        ("finalize_watchlist", "06:15"),
        ("warm_up", "09:25"),
        ("intraday_refresh_0935", "09:35"),
        ("intraday_refresh_1130", "11:30"),
        ("intraday_refresh_1330", "13:30"),
        ("after_hours_scan", "16:05"),
        ("retrain", "17:30"),
        ("reports", "18:00"),
    ]


def test_retrain_runs_only_when_configured(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    start = datetime(2026, 11, 25, tzinfo=PACIFIC)
    names = {o.job.name for o in occurrences(make_settings(), start, days=0)}
    assert "retrain" not in names
    enabled = make_settings(SCHEDULE_RETRAIN_CONFIG=tmp_path / "sweep.yaml")
    assert "retrain" in {o.job.name for o in occurrences(enabled, start, days=0)}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _scheduler(
    settings: Settings, clock: FakeClock, ran: list[tuple[str, date]], fail: str = ""
) -> Scheduler:
    def run_job(name: str, session: date) -> dict[str, Any]:
        ran.append((name, session))
        if name == fail:
            raise RuntimeError("vendor down")
        return {"count": 1}

    return Scheduler(settings, run_job, clock=clock)


def test_overdue_jobs_within_grace_run_once_and_never_again_after_restart(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(SCHEDULE_GRACE_MINUTES=30)
    clock = FakeClock(datetime(2026, 11, 25, 4, 20, tzinfo=PACIFIC))
    ran: list[tuple[str, date]] = []
    assert _scheduler(settings, clock, ran).run_pending() == 2
    assert [name for name, _ in ran] == ["startup_check", "premarket_scan"]
    # A restarted scheduler reads the ledger and repeats nothing.
    assert _scheduler(settings, clock, ran).run_pending() == 0
    assert len(ran) == 2


def test_jobs_missed_beyond_grace_are_not_run(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(SCHEDULE_GRACE_MINUTES=10)
    clock = FakeClock(datetime(2026, 11, 25, 6, 20, tzinfo=PACIFIC))
    ran: list[tuple[str, date]] = []
    _scheduler(settings, clock, ran).run_pending()
    assert [name for name, _ in ran] == ["finalize_watchlist"]


def test_a_failing_job_is_recorded_and_the_schedule_goes_on(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    clock = FakeClock(datetime(2026, 11, 25, 4, 1, tzinfo=PACIFIC))
    ran: list[tuple[str, date]] = []
    scheduler = _scheduler(settings, clock, ran, fail="startup_check")
    assert scheduler.run_pending() == 2
    lines = [json.loads(x) for x in scheduler.ledger.path.read_text().splitlines()]
    assert [(x["job"], x["status"]) for x in lines] == [("startup_check", "error"), ("premarket_scan", "ok")]
    assert "vendor down" in lines[0]["detail"]["error"]


def test_serve_sleeps_until_each_due_time_and_stops(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(SCHEDULE_GRACE_MINUTES=0)
    clock = FakeClock(datetime(2026, 11, 25, 3, 0, tzinfo=PACIFIC))
    ran: list[tuple[str, date]] = []
    scheduler = _scheduler(settings, clock, ran)
    waits: list[float] = []

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        clock.now += timedelta(seconds=seconds)
        return len(ran) >= 4  # stop once four jobs ran

    scheduler.sleep = sleep
    scheduler.serve()
    assert [name for name, _ in ran] == ["startup_check", "premarket_scan", "finalize_watchlist", "warm_up"]
    assert waits[0] == 58 * 60  # 03:00 -> 03:58


def test_malformed_ledger_lines_are_ignored(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    clock = FakeClock(datetime(2026, 11, 25, 4, 1, tzinfo=PACIFIC))
    ran: list[tuple[str, date]] = []
    scheduler = _scheduler(settings, clock, ran)
    scheduler.ledger.path.write_text('{"torn": \n')
    assert scheduler.run_pending() == 2


def test_bad_schedule_timezone_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import load_settings
    from app.errors import ConfigError

    monkeypatch.setenv("SCHEDULE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="SCHEDULE_TIMEZONE"):
        load_settings()
