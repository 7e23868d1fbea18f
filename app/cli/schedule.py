"""``ai-trader schedule``: the daily schedule (show, history of runs, run one job, serve)."""

from __future__ import annotations

import json
import signal
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from app.cli.common import console, container_or_exit, exit_on_error, settings_or_exit
from app.config import Settings
from app.errors import InputError

__all__ = ["schedule_app"]

REPLAY_POLL_S = 0.2
"""With ``REPLAY_CLOCK_FILE``, how often (real seconds) the scheduler reads the replayed clock."""

schedule_app = typer.Typer(help="The daily schedule (exchange-calendar aware).", no_args_is_help=True)


@schedule_app.command("show")
def show(
    days: int = typer.Option(7, min=1, max=60, help="How many days ahead."),
    start: str | None = typer.Option(
        None, "--start", help="First session date YYYY-MM-DD (default: from now on)."
    ),
) -> None:
    """List the next scheduled jobs on the exchange's clock (ET) beside ``SCHEDULE_TIMEZONE``."""
    from app.workers.schedule import EXCHANGE_ZONE, occurrences
    from app.workers.scheduler import Ledger

    settings = settings_or_exit()
    with exit_on_error():
        try:
            since = (
                datetime.now(UTC)
                if start is None
                else datetime.combine(date.fromisoformat(start), time(0), tzinfo=EXCHANGE_ZONE)
            )
        except ValueError:
            raise InputError(f"--start: not a date (YYYY-MM-DD): {start!r}") from None
        zone = ZoneInfo(settings.SCHEDULE_TIMEZONE)
        runs = {str(e["key"]): str(e.get("status", "")) for e in Ledger(_ledger_path(settings)).entries()}
        table = Table(
            title=f"Schedule on NYSE sessions (ET = America/New_York, {settings.SCHEDULE_TIMEZONE})"
        )
        for column in ("session", "ET", _zone_label(zone), "job", "when"):
            table.add_column(column, no_wrap=True)
        table.add_column("state", overflow="fold")
        wide = console.width >= 120
        if wide:
            table.add_column("what", overflow="fold")
        for occurrence in occurrences(settings, since, days=days):
            recorded = runs.get(occurrence.key)
            if recorded is not None:
                state = "done" if recorded == "ok" else recorded
            elif occurrence.skip_reason is not None:
                state = f"skip: {occurrence.skip_reason}"
            else:
                state = "pending"
            table.add_row(
                occurrence.session.isoformat(),
                occurrence.due.astimezone(EXCHANGE_ZONE).strftime("%H:%M"),
                occurrence.due.astimezone(zone).strftime("%H:%M"),
                occurrence.job.name,
                occurrence.job.relative,
                state,
                *([occurrence.job.description] if wide else []),
            )
        console.print(table)


def _zone_label(zone: ZoneInfo) -> str:
    """``PT`` for America/Los_Angeles, ``ET`` for America/New_York; else the zone's name."""
    names = {datetime(2026, month, 1, 12, tzinfo=zone).tzname() or "" for month in (1, 7)}
    if len(names) == 2 and all(len(n) == 3 and n[1] in "SD" and n[2] == "T" for n in names):
        return next(iter(names))[0] + "T"
    return zone.key


def _ledger_path(settings: Settings) -> Path:
    return settings.DATA_DIR / "schedule" / "ledger.jsonl"


@schedule_app.command("history")
def history(
    limit: int = typer.Option(20, "--limit", min=1, help="Newest N runs."),
    as_json: bool = typer.Option(False, "--json", help="Print the ledger entries as a JSON array."),
) -> None:
    """List past scheduled runs from the ledger, newest first, with their status and duration."""
    from app.workers.scheduler import Ledger

    settings = settings_or_exit()
    with exit_on_error():
        runs = Ledger(settings.DATA_DIR / "schedule" / "ledger.jsonl").history(limit)
    if as_json:
        typer.echo(json.dumps(runs, indent=2, default=str))
        return
    table = Table(title=f"Scheduled runs (newest {limit})")
    for column in ("finished (UTC)", "job", "status", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("error / output / reason", overflow="fold")
    for entry in runs:
        raw = entry.get("detail")
        detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
        status = str(entry.get("status", "?"))
        finished = str(entry.get("finished_at", ""))
        seconds = detail.get("duration_s")
        table.add_row(
            finished[:19].replace("T", " "),
            str(entry.get("job", "")),
            status
            if status == "ok"
            else f"[yellow]{status}[/yellow]"
            if status == "skipped"
            else f"[red]{status}[/red]",
            "" if seconds is None else f"{float(seconds):.3f}",
            str(detail.get("error") or detail.get("output") or detail.get("reason") or ""),
        )
    console.print(table)


@schedule_app.command("run")
def run(
    job: str = typer.Argument(..., help="Job name, e.g. premarket_scan (see `schedule show`)."),
    session: str | None = typer.Option(
        None, help="Session date YYYY-MM-DD (default: today in the schedule zone)."
    ),
) -> None:
    """Run one job now (outside the schedule; the ledger is not touched) and print its result."""
    from app.workers.daily_jobs import DailyJobs
    from app.workers.scheduler import JOBS_BY_NAME

    with container_or_exit() as container:
        settings = container.settings
        if job not in JOBS_BY_NAME:
            raise InputError(f"unknown job {job!r} (known: {', '.join(JOBS_BY_NAME)})")
        try:
            day = (
                date.fromisoformat(session)
                if session
                else datetime.now(ZoneInfo(settings.SCHEDULE_TIMEZONE)).date()
            )
        except ValueError:
            raise InputError(f"--session: not a date (YYYY-MM-DD): {session!r}") from None
        container.db.upgrade()
        from app.domain.clock import build_clock

        with exit_on_error():
            clock = build_clock(settings.REPLAY_CLOCK_FILE, broker=settings.BROKER)
        summary = DailyJobs(container, clock=clock).run(job, day)
        typer.echo(json.dumps(summary, indent=2, default=str))


@schedule_app.command("serve")
def serve() -> None:
    """Run the schedule until SIGTERM / Ctrl-C."""
    from app.domain.clock import build_clock
    from app.workers.daily_jobs import DailyJobs
    from app.workers.scheduler import Scheduler
    from app.workers.scheduler_lease import SchedulerLease

    with container_or_exit("scheduler", migrate=True) as container:
        with exit_on_error():
            clock = build_clock(container.settings.REPLAY_CLOCK_FILE, broker=container.settings.BROKER)
        jobs = DailyJobs(container, clock=clock)
        # one scheduler per database: a second platform on it stands by (see docs/schedule.md)
        scheduler = Scheduler(
            container.settings,
            jobs.run,
            clock=clock,
            lease=SchedulerLease(container.db, lease_s=container.settings.SCHEDULE_LEASE_S),
            on_lead=jobs.startup_reconcile,
        )
        if container.settings.REPLAY_CLOCK_FILE is not None:
            # a replayed clock jumps ahead whenever its driver moves it: look again often
            # instead of sleeping until the next job's time on that clock
            scheduler.sleep = lambda seconds: scheduler.stop_event.wait(min(seconds, REPLAY_POLL_S))

        def stop(_signum: int, _frame: FrameType | None) -> None:
            scheduler.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.serve()
