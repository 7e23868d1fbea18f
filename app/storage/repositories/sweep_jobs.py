"""Sweep jobs repository: ``sweep_registry`` rows and their lifecycle transitions.

Lifecycle of one job (``status``)::

    queued ──► dispatched ──► running ──► completed
      ▲            │             └──────► failed
      └────────────┘ (dispatch failed transiently: released for a retry)

:meth:`SweepJobsRepository.claim` and :meth:`~SweepJobsRepository.release` move a job only from
the expected status, inside the ``UPDATE``, so two consumers never both dispatch one job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from app.errors import NotFoundError
from app.storage.db import Database
from app.storage.models import SweepJob
from app.storage.types import utcnow

__all__ = ["STATUSES", "SweepJobRecord", "SweepJobsRepository"]

STATUSES: tuple[str, ...] = ("queued", "dispatched", "running", "completed", "failed")
"""Every ``sweep_registry.status``, in lifecycle order."""

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepJobRecord:
    """One row of ``sweep_registry``."""

    job_id: str
    status: str
    config_path: str | None
    config_blob: str | None
    strategy: str | None
    symbol: str | None
    config: Mapping[str, Any] = field(default_factory=dict)
    output_dir: str | None = None
    execution_name: str | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


def _record(row: SweepJob) -> SweepJobRecord:
    return SweepJobRecord(
        job_id=row.job_id,
        status=row.status,
        config_path=row.config_path,
        config_blob=row.config_blob,
        strategy=row.strategy,
        symbol=row.symbol,
        config=dict(row.config),
        output_dir=row.output_dir,
        execution_name=row.execution_name,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        dispatched_at=row.dispatched_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class SweepJobsRepository:
    """Writes and reads ``sweep_registry``."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add_queued(
        self,
        job_id: str,
        *,
        config_path: str | None,
        config_blob: str | None,
        strategy: str | None,
        symbol: str | None,
        config: Mapping[str, Any],
    ) -> None:
        """Insert a new job with status ``queued``."""
        with self._db.transaction() as session:
            session.add(
                SweepJob(
                    job_id=job_id,
                    status="queued",
                    config_path=config_path,
                    config_blob=config_blob,
                    strategy=strategy,
                    symbol=symbol,
                    config=dict(config),
                )
            )

    def find(self, job_id: str) -> SweepJobRecord | None:
        """Return the job, or ``None`` when there is none with that id."""
        with self._db.session() as session:
            row = session.get(SweepJob, job_id)
            return None if row is None else _record(row)

    def get(self, job_id: str) -> SweepJobRecord:
        """Return the job.

        Raises:
            NotFoundError: no job has that id.
        """
        job = self.find(job_id)
        if job is None:
            raise NotFoundError(f"sweep job {job_id!r} not found")
        return job

    def newest(self, *, status: str | None = None, limit: int = 50) -> list[SweepJobRecord]:
        """Return the newest ``limit`` jobs (optionally of one status), newest first."""
        query = select(SweepJob).order_by(SweepJob.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(SweepJob.status == status)
        with self._db.session() as session:
            return [_record(row) for row in session.scalars(query).all()]

    def counts(self) -> dict[str, int]:
        """Return how many jobs are in each status (every status present, zero included)."""
        with self._db.session() as session:
            counted = session.execute(select(SweepJob.status, func.count()).group_by(SweepJob.status)).all()
        counts = dict.fromkeys(STATUSES, 0)
        for name, number in counted:
            counts[str(name)] = int(number)
        return counts

    def claim(self, job_id: str) -> bool:
        """Move a queued job to dispatched; ``False`` when it was not queued (already claimed)."""
        now = utcnow()
        with self._db.transaction() as session:
            result = session.execute(
                update(SweepJob)
                .where(SweepJob.job_id == job_id, SweepJob.status == "queued")
                .values(status="dispatched", dispatched_at=now, updated_at=now)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, job_id: str, error: str) -> None:
        """Return a dispatched job to the queue, keeping why its dispatch failed."""
        now = utcnow()
        with self._db.transaction() as session:
            session.execute(
                update(SweepJob)
                .where(SweepJob.job_id == job_id, SweepJob.status == "dispatched")
                .values(status="queued", error=error, dispatched_at=None, updated_at=now)
            )

    def heartbeat(self, job_id: str) -> bool:
        """Renew a running job's lease (its ``updated_at``); ``False`` when it is no longer running."""
        with self._db.transaction() as session:
            result = session.execute(
                update(SweepJob)
                .where(SweepJob.job_id == job_id, SweepJob.status == "running")
                .values(updated_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def expire_running(self, lease_s: float, error: str) -> list[str]:
        """Mark failed every running job silent for ``lease_s`` seconds; return their ids."""
        now = utcnow()
        cutoff = now - timedelta(seconds=lease_s)
        with self._db.transaction() as session:
            stale = list(
                session.scalars(
                    select(SweepJob.job_id).where(SweepJob.status == "running", SweepJob.updated_at < cutoff)
                ).all()
            )
            for job_id in stale:
                session.execute(
                    update(SweepJob)
                    .where(
                        SweepJob.job_id == job_id, SweepJob.status == "running", SweepJob.updated_at < cutoff
                    )
                    .values(status="failed", finished_at=now, updated_at=now, error=error)
                )
        return stale

    def record_execution(self, job_id: str, execution_name: str) -> None:
        """Store the name of the execution that runs the job.

        Raises:
            NotFoundError: no job has that id.
        """
        self._update(job_id, execution_name=execution_name)

    def mark_running(self, job_id: str, output_dir: str) -> None:
        """Status ``running``, writing to ``output_dir``; clears an earlier error.

        Raises:
            NotFoundError: no job has that id.
        """
        self._update(job_id, status="running", output_dir=output_dir, started_at=utcnow(), error=None)

    def mark_completed(self, job_id: str) -> None:
        """Status ``completed``; clears an earlier error.

        Raises:
            NotFoundError: no job has that id.
        """
        self._update(job_id, status="completed", finished_at=utcnow(), error=None)

    def mark_failed(self, job_id: str, error: str) -> None:
        """Status ``failed`` with ``error`` (its first 4,000 characters).

        Raises:
            NotFoundError: no job has that id.
        """
        self._update(job_id, status="failed", finished_at=utcnow(), error=error[:MAX_ERROR_CHARS])

    def _update(self, job_id: str, **values: Any) -> None:
        values["updated_at"] = utcnow()
        with self._db.transaction() as session:
            result = session.execute(update(SweepJob).where(SweepJob.job_id == job_id).values(**values))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFoundError(f"sweep job {job_id!r} not found")
