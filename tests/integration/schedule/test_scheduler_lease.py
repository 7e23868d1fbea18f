"""One scheduler per database: a second one stands by and takes over when the lease lapses."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.config import Settings
from app.storage.db import Database
from app.workers.scheduler import Scheduler
from app.workers.scheduler_lease import SchedulerLease
from tests.threads import in_background

DUE = datetime(2026, 11, 25, 4, 1, tzinfo=ZoneInfo("America/New_York"))  # two jobs due (exchange time)
LEASE_S = 0.9


def _scheduler(settings: Settings, database: Database, name: str, ran: list[tuple[str, str]]) -> Scheduler:
    def run_job(job: str, session: date) -> dict[str, Any]:
        ran.append((name, job))
        return {}

    lease = SchedulerLease(database, owner=f"platform-{name}", lease_s=LEASE_S)
    return Scheduler(settings, run_job, clock=lambda: DUE, lease=lease)


def test_two_platforms_on_one_database_run_each_job_once(
    database: Database,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[tuple[str, str]] = []
    # two var/ directories (two ledgers): only the lease keeps the jobs from running twice
    a = _scheduler(make_settings(DATA_DIR=tmp_path / "a"), database, "a", ran)
    b = _scheduler(make_settings(DATA_DIR=tmp_path / "b"), database, "b", ran)
    with (
        caplog.at_level(logging.WARNING, logger="app.workers.scheduler"),
        in_background(a.serve, name="scheduler a", stop=a.stop) as first,
        in_background(b.serve, name="scheduler b", stop=b.stop) as second,
    ):
        time.sleep(3 * LEASE_S)  # several renewals
        for scheduler in (a, b):
            scheduler.stop()
        for serving in (first, second):
            serving.join(timeout=10)
    assert sorted(job for _, job in ran) == ["premarket_scan", "startup_check"]
    assert len({who for who, _ in ran}) == 1
    assert "runs the schedule of this database; standing by" in caplog.text


def test_the_standby_takes_over_when_the_lease_expires(
    database: Database, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    crashed = SchedulerLease(database, owner="platform-crashed", lease_s=LEASE_S)
    assert crashed.acquire()  # ... and never renewed: its process died
    ran: list[tuple[str, str]] = []
    standby = _scheduler(make_settings(), database, "b", ran)
    with (
        caplog.at_level(logging.WARNING, logger="app.workers.scheduler"),
        in_background(standby.serve, name="standby scheduler", stop=standby.stop) as serving,
    ):
        time.sleep(LEASE_S / 3)
        assert ran == []  # the lease is still valid: standing by
        time.sleep(2 * LEASE_S)
        standby.stop()
        serving.join(timeout=10)
    assert sorted(job for _, job in ran) == ["premarket_scan", "startup_check"]
    assert "another scheduler (platform-crashed" in caplog.text
    assert "this scheduler (platform-b) runs the schedule" in caplog.text
    assert standby.lease is not None and standby.lease.holder() is None  # released on its clean stop


def test_a_clean_stop_releases_the_lease(database: Database) -> None:
    first = SchedulerLease(database, owner="one", lease_s=60)
    second = SchedulerLease(database, owner="two", lease_s=60)
    assert first.acquire() and first.acquire()  # renewing is taking it again
    assert not second.acquire()
    first.release()
    assert second.acquire()
    holder = second.holder()
    assert holder is not None and holder.owner == "two"
