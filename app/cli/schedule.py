"""``ai-trader schedule``: the daily schedule (show, history of runs, run one job, serve)."""

from __future__ import annotations

import json
import signal
from datetime import UTC, date, datetime
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from app.cli.common import console, container_or_exit, exit_on_error, settings_or_exit
from app.errors import InputError

__all__ = ["schedule_app"]

schedule_app = typer.Typer(help="The daily schedule (exchange-calendar aware).", no_args_is_help=True)


@schedule_app.command("show")
def show(days: int = typer.Option(7, min=1, max=60, help="How many days ahead.")) -> None:
    """List the next scheduled jobs, in the schedule's time zone and in UTC."""
    from app.workers.scheduler import Ledger, occurrences

    settings = settings_or_exit()
    with exit_on_error():
        done = Ledger(settings.DATA_DIR / "schedule" / "ledger.jsonl").done()
        table = Table(title=f"Schedule ({settings.SCHEDULE_TIMEZONE}, NYSE sessions only)")
        for column in ("session", "local time", "UTC", "job", "what", "state"):
            table.add_column(column)
        for occurrence in occurrences(settings, datetime.now(UTC), days=days):
            table.add_row(
                occurrence.session.isoformat(),
                occurrence.due.strftime("%H:%M %Z"),
                occurrence.due.astimezone(UTC).strftime("%H:%M"),
                occurrence.job.name,
                occurrence.job.description,
                "done" if occurrence.key in done else "pending",
            )
        console.print(table)


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
    table.add_column("error / output", overflow="fold")
    for entry in runs:
        raw = entry.get("detail")
        detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
        status = str(entry.get("status", "?"))
        finished = str(entry.get("finished_at", ""))
        seconds = detail.get("duration_s")
        table.add_row(
            finished[:19].replace("T", " "),
            str(entry.get("job", "")),
            status if status == "ok" else f"[red]{status}[/red]",
            "" if seconds is None else f"{float(seconds):.3f}",
            str(detail.get("error") or detail.get("output") or ""),
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
    from app.services.daily import DailyJobs
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
        summary = DailyJobs(container).run(job, day)
        typer.echo(json.dumps(summary, indent=2, default=str))


@schedule_app.command("serve")
def serve() -> None:
    """Run the schedule until SIGTERM / Ctrl-C."""
    from app.services.daily import DailyJobs
    from app.workers.scheduler import Scheduler

    with container_or_exit("scheduler", migrate=True) as container:
        jobs = DailyJobs(container)
        scheduler = Scheduler(container.settings, jobs.run)

        def stop(_signum: int, _frame: FrameType | None) -> None:
            scheduler.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.serve()
