from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.config import Settings
from app.errors import InputError
from app.workers.schedule import session_hours
from app.workers.scheduler import SCHEDULE, Scheduler, is_session, occurrences

PACIFIC = ZoneInfo("America/Los_Angeles")
EASTERN = ZoneInfo("America/New_York")


def test_jobs_run_only_on_nyse_sessions(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    start = datetime(2026, 11, 25, 0, 0, tzinfo=PACIFIC)  # Wednesday before Thanksgiving
    days = sorted({o.session for o in occurrences(settings, start, days=5)})
    # Thanksgiving (Thu 26th) and the weekend are skipped; the half day (Fri 27th) trades.
    assert days == [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30)]
    assert not is_session(date(2026, 11, 26))


def _due(settings: Settings, job: str, day: date) -> datetime:
    start = datetime.combine(day, time(0), tzinfo=EASTERN)
    return next(o.due for o in occurrences(settings, start, days=0) if o.job.name == job)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (date(2026, 3, 6), date(2026, 3, 9)),  # clocks spring forward on Sunday 2026-03-08
        (date(2026, 10, 30), date(2026, 11, 2)),  # and fall back on Sunday 2026-11-01
    ],
)
def test_jobs_keep_exchange_time_across_dst_changes(
    make_settings: Callable[..., Settings], before: date, after: date
) -> None:
    settings = make_settings()
    for job, eastern in (("premarket_scan", time(4, 0)), ("warm_up", time(9, 25)), ("reports", time(18, 0))):
        first, second = _due(settings, job, before), _due(settings, job, after)
        assert first.astimezone(EASTERN).time() == second.astimezone(EASTERN).time() == eastern
        # the UTC instant moves by the hour the clocks moved; Pacific stays 3 hours behind
        assert abs(first.astimezone(UTC).hour - second.astimezone(UTC).hour) == 1
        assert first.astimezone(PACIFIC).hour == (eastern.hour - 3) % 24


def test_early_close_moves_close_jobs_and_skips_the_late_refresh(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(SCHEDULE_RETRAIN_CONFIG="sweep.yaml")
    start = datetime(2026, 11, 27, 0, 0, tzinfo=EASTERN)  # the day after Thanksgiving closes at 13:00
    day = {o.job.name: o for o in occurrences(settings, start, days=0)}
    eastern = {name: o.due.astimezone(EASTERN).strftime("%H:%M") for name, o in day.items()}
    assert eastern == {
        "startup_check": "03:58",
        "premarket_scan": "04:00",
        "finalize_watchlist": "06:15",
        "warm_up": "09:25",
        "intraday_refresh_0935": "09:35",
        "intraday_refresh_1130": "11:30",
        "after_hours_scan": "13:05",
        "intraday_refresh_1330": "13:30",
        "retrain": "14:30",
        "reports": "15:00",
    }
    skipped = {name for name, o in day.items() if o.skip_reason is not None}
    assert skipped == {"intraday_refresh_1330"}
    assert day["intraday_refresh_1330"].skip_reason == "after the 13:00 ET early close"


def test_a_refresh_after_an_early_close_is_recorded_as_skipped_not_run(
    make_settings: Callable[..., Settings],
) -> None:
    clock = FakeClock(datetime(2026, 11, 27, 13, 32, tzinfo=EASTERN))
    ran: list[tuple[str, date]] = []
    scheduler = _scheduler(make_settings(SCHEDULE_GRACE_MINUTES=30), clock, ran)
    assert scheduler.run_pending() == 2
    assert ran == [("after_hours_scan", date(2026, 11, 27))]
    entries = {e["job"]: e for e in scheduler.ledger.entries()}
    assert entries["intraday_refresh_1330"]["status"] == "skipped"
    assert entries["intraday_refresh_1330"]["detail"]["reason"] == "after the 13:00 ET early close"
    assert scheduler.run_pending() == 0  # the skip is recorded once, like a run


def test_holidays_have_no_jobs(make_settings: Callable[..., Settings]) -> None:
    for holiday in (date(2026, 11, 26), date(2026, 12, 25), date(2026, 7, 3)):
        start = datetime.combine(holiday, time(0), tzinfo=EASTERN)
        assert list(occurrences(make_settings(), start, days=0)) == []
    with pytest.raises(InputError, match="not an NYSE session"):
        session_hours(date(2026, 11, 26))
    with pytest.raises(InputError, match="timezone-aware"):
        next(occurrences(make_settings(), datetime(2026, 11, 25)))


def test_schedule_matches_the_runbook_table_on_a_regular_session() -> None:
    times = [(job.name, job.regular_time.strftime("%H:%M")) for job in SCHEDULE]
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
    relative = {job.name: job.relative for job in SCHEDULE}
    assert relative["premarket_scan"] == "open - 5:30" and relative["warm_up"] == "open - 0:05"
    assert relative["after_hours_scan"] == "close + 0:05"


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
    clock = FakeClock(datetime(2026, 11, 25, 4, 20, tzinfo=EASTERN))
    ran: list[tuple[str, date]] = []
    assert _scheduler(settings, clock, ran).run_pending() == 2
    assert [name for name, _ in ran] == ["startup_check", "premarket_scan"]
    # A restarted scheduler reads the ledger and repeats nothing.
    assert _scheduler(settings, clock, ran).run_pending() == 0
    assert len(ran) == 2


def test_jobs_missed_beyond_grace_are_not_run(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(SCHEDULE_GRACE_MINUTES=10)
    clock = FakeClock(datetime(2026, 11, 25, 6, 20, tzinfo=EASTERN))
    ran: list[tuple[str, date]] = []
    _scheduler(settings, clock, ran).run_pending()
    assert [name for name, _ in ran] == ["finalize_watchlist"]


def test_a_failing_job_is_recorded_and_the_schedule_goes_on(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    clock = FakeClock(datetime(2026, 11, 25, 4, 1, tzinfo=EASTERN))
    ran: list[tuple[str, date]] = []
    scheduler = _scheduler(settings, clock, ran, fail="startup_check")
    assert scheduler.run_pending() == 2
    lines = [json.loads(x) for x in scheduler.ledger.path.read_text().splitlines()]
    assert [(x["job"], x["status"]) for x in lines] == [("startup_check", "error"), ("premarket_scan", "ok")]
    assert "vendor down" in lines[0]["detail"]["error"]


def test_serve_sleeps_until_each_due_time_and_stops(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(SCHEDULE_GRACE_MINUTES=0)
    clock = FakeClock(datetime(2026, 11, 25, 3, 0, tzinfo=EASTERN))
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


def test_serve_runs_the_start_up_hook_once_before_any_job(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(SCHEDULE_GRACE_MINUTES=0)
    clock = FakeClock(datetime(2026, 11, 25, 3, 57, tzinfo=EASTERN))
    ran: list[tuple[str, date]] = []
    scheduler = _scheduler(settings, clock, ran)
    hooks: list[int] = []

    def on_lead() -> None:  # the start-up reconciliation; a failure must not stop the schedule
        hooks.append(len(ran))
        raise RuntimeError("broker unreachable")

    def sleep(seconds: float) -> bool:
        clock.now += timedelta(seconds=seconds)
        return len(ran) >= 2

    scheduler.on_lead, scheduler.sleep = on_lead, sleep
    scheduler.serve()
    assert hooks == [0]  # once, before the 03:58 check
    assert [name for name, _ in ran] == ["startup_check", "premarket_scan"]


def test_malformed_ledger_lines_are_ignored(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    clock = FakeClock(datetime(2026, 11, 25, 4, 1, tzinfo=EASTERN))
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


def test_show_prints_exchange_and_pacific_time_side_by_side() -> None:
    from typer.testing import CliRunner

    from app.cli.main import app

    result = CliRunner().invoke(app, ["schedule", "show", "--start", "2026-11-27", "--days", "1"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "2026-11-27" in line]
    warm_up = next(line for line in rows if "warm_up" in line)
    assert "┃ ET    ┃ PT    ┃" in result.stdout
    assert "│ 09:25 │ 06:25 │ warm_up" in warm_up and "open - 0:05" in warm_up
    refresh = next(line for line in rows if "intraday_refresh_1330" in line)
    assert "│ 13:30 │ 10:30 │" in refresh and "skip:" in refresh and "early" in result.stdout
    assert not [line for line in result.stdout.splitlines() if "2026-11-28" in line]  # a Saturday
    bad = CliRunner().invoke(app, ["schedule", "show", "--start", "27/11/2026"])
    assert bad.exit_code == 2 and "--start" in bad.output
