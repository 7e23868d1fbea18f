"""The daily schedule: which job runs when, on NYSE sessions only, exactly once per session.

Each job's time is an offset from its session's open or close (see
:mod:`app.workers.schedule`), so weekends and holidays are quiet and early closes and
daylight-saving changes are followed. Every run is recorded in a ledger under
``DATA_DIR/schedule/``, and so is every skip (a refresh after an early close); a restarted
scheduler never repeats a job for the same session, and runs one it missed by at most
``SCHEDULE_GRACE_MINUTES``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time as time_module
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from app.config import Settings
from app.errors import InputError, StorageError
from app.workers.schedule import JOBS_BY_NAME, SCHEDULE, Occurrence, ScheduledJob, is_session, occurrences
from app.workers.scheduler_lease import LeaseKeeper, SchedulerLease

__all__ = [
    "JOBS_BY_NAME",
    "SCHEDULE",
    "Ledger",
    "Occurrence",
    "ScheduledJob",
    "Scheduler",
    "is_session",
    "occurrences",
]

log = logging.getLogger(__name__)


class Ledger:
    """Append-only record of finished runs (one JSON line each), safe across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def done(self) -> set[str]:
        return {str(entry["key"]) for entry in self.entries()}

    def entries(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first; malformed lines are skipped with a warning."""
        if not self.path.exists():
            return []
        runs = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or "key" not in entry:
                    raise TypeError("not a ledger entry")
            except (json.JSONDecodeError, TypeError):
                log.warning("ignoring a malformed schedule ledger line in %s", self.path)
                continue
            runs.append(entry)
        return runs

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` recorded runs, newest first (by ``finished_at``, then file order).

        Raises:
            InputError: ``limit`` is below 1.
        """
        if limit < 1:
            raise InputError(f"limit: must be at least 1, got {limit}")
        runs = list(enumerate(self.entries()))
        runs.sort(key=lambda item: (str(item[1].get("finished_at", "")), item[0]), reverse=True)
        return [entry for _, entry in runs[:limit]]

    def record(self, occurrence: Occurrence, status: str, detail: dict[str, Any]) -> None:
        line = json.dumps(
            {
                "key": occurrence.key,
                "job": occurrence.job.name,
                "session": occurrence.session.isoformat(),
                "due": occurrence.due.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "status": status,
                "detail": detail,
            },
            default=str,
        )
        with self.path.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line + "\n")
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)


JobRunner = Callable[[str, date], dict[str, Any]]


class Scheduler:
    """Runs each due occurrence once, in order, until stopped."""

    def __init__(
        self,
        settings: Settings,
        run_job: JobRunner,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], bool] | None = None,
        lease: SchedulerLease | None = None,
        on_lead: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.run_job = run_job
        self.clock = clock
        self.stop_event = threading.Event()
        self.sleep = sleep or self.stop_event.wait
        self.ledger = Ledger(settings.DATA_DIR / "schedule" / "ledger.jsonl")
        self.lease = lease
        self._keeper = LeaseKeeper(lease) if lease is not None else None
        self._standby_for: str | None = None
        self.on_lead = on_lead
        self._led = False

    def pending(self, now: datetime) -> list[Occurrence]:
        """Occurrences due now or earlier (within the grace window) that have not run."""
        grace = timedelta(minutes=self.settings.SCHEDULE_GRACE_MINUTES)
        done = self.ledger.done()
        return [
            o for o in occurrences(self.settings, now - grace, days=1) if o.due <= now and o.key not in done
        ]

    def next_due(self, now: datetime) -> Occurrence | None:
        done = self.ledger.done()
        return next((o for o in occurrences(self.settings, now) if o.key not in done), None)

    def run_occurrence(self, occurrence: Occurrence) -> str:
        """Run one occurrence (or skip it, when it has a ``skip_reason``), log it and record it."""
        name = occurrence.job.name
        fields: dict[str, Any] = {"job": name, "session": occurrence.session.isoformat()}
        if occurrence.skip_reason is not None:
            self.ledger.record(occurrence, "skipped", {"reason": occurrence.skip_reason})
            log.info(
                "schedule: skipped %s for session %s (%s)",
                name,
                occurrence.session,
                occurrence.skip_reason,
                extra={**fields, "reason": occurrence.skip_reason},
            )
            return "skipped"
        log.info("schedule: running %s for session %s", name, occurrence.session, extra=fields)
        started = time_module.perf_counter()
        failure: Exception | None = None
        try:
            detail = self.run_job(name, occurrence.session)
            status = "ok"
        except Exception as exc:
            failure = exc
            detail, status = {"error": f"{type(exc).__name__}: {exc}"}, "error"
        elapsed = time_module.perf_counter() - started
        detail["duration_s"] = round(elapsed, 3)
        self.ledger.record(occurrence, status, detail)
        fields["duration_ms"] = round(elapsed * 1000, 1)
        if failure is None:
            log.info("schedule: %s succeeded", name, extra=fields)
        else:
            log.error(
                "schedule: %s failed", name, exc_info=failure, extra={**fields, "error": detail["error"]}
            )
        return status

    def run_pending(self) -> int:
        """Run every pending occurrence now; return how many ran."""
        pending = self.pending(self.clock())
        for occurrence in pending:
            self.run_occurrence(occurrence)
        return len(pending)

    def serve(self) -> None:
        """Loop until :meth:`stop`: run what is pending, then sleep until the next due job.

        With a lease, only the scheduler holding it runs jobs; the others stand by and take
        over when it expires or is released."""
        try:
            while not self.stop_event.is_set():
                if not self._leading():
                    self._led = False
                    if self.sleep(self.lease.lease_s / 3 if self.lease is not None else 1.0):
                        break
                    continue
                if not self._led:
                    self._led = True
                    self._started_leading()
                self.run_pending()
                upcoming = self.next_due(self.clock())
                if upcoming is None:
                    wait_s = 3600.0
                else:
                    wait_s = max(0.0, (upcoming.due - self.clock()).total_seconds())
                    log.info("schedule: next %s at %s", upcoming.job.name, upcoming.due.isoformat())
                if self.lease is not None:  # notice a lost lease while waiting
                    wait_s = min(wait_s, self.lease.lease_s / 3)
                if self.sleep(min(wait_s, 3600.0)):
                    break
        finally:
            if self._keeper is not None and self.lease is not None:
                leading = self._keeper.held.is_set()
                self._keeper.stop()
                if leading:
                    self.lease.release()

    def _started_leading(self) -> None:
        """Run ``on_lead`` (the start-up reconciliation) when this scheduler starts running the
        schedule: at start, or when it takes over from another. A failure is logged only."""
        if self.on_lead is None:
            return
        try:
            self.on_lead()
        except Exception as exc:
            log.error("schedule: start-up hook failed: %s", exc, exc_info=exc)

    def _leading(self) -> bool:
        """True when this scheduler may run jobs (no lease configured, or it holds the lease)."""
        if self.lease is None or self._keeper is None:
            return True
        if self._keeper.held.is_set():
            return True
        try:
            won = self.lease.acquire()
            holder = None if won else self.lease.holder()
        except StorageError as exc:
            log.error("schedule: cannot read the scheduler lease, not running jobs: %s", exc)
            return False
        if won:
            log.warning("schedule: this scheduler (%s) runs the schedule of this database", self.lease.owner)
            self._standby_for = None
            self._keeper.start()
            return True
        owner = holder.owner if holder is not None else "?"
        if owner != self._standby_for:
            self._standby_for = owner
            log.warning(
                "schedule: another scheduler (%s, lease until %s) runs the schedule of this database; "
                "standing by to take over if it stops",
                owner,
                holder.expires_at.isoformat() if holder is not None else "?",
            )
        return False

    def stop(self) -> None:
        self.stop_event.set()
