"""Sweep jobs: submit to the jobs hub, track the lifecycle in ``sweep_registry``, read results.

The lifecycle and its SQL are in :mod:`app.storage.repositories.sweep_jobs`.

``POST /backtests/sweeps/jobs`` calls :meth:`SweepJobService.submit`; the sweep job consumer
calls :meth:`claim` / :meth:`record_execution` / :meth:`release`; the sweep entry point calls
:meth:`mark_running` / :meth:`mark_completed` / :meth:`mark_failed` and :meth:`publish_results`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.backtest.sweeps.config import SweepConfig, load_job_config
from app.backtest.sweeps.grid import check_sweep_size
from app.bus.envelope import Envelope
from app.bus.ports import Bus
from app.config import Settings
from app.errors import ConfigError, InputError, NotFoundError
from app.storage.blob import BlobStore
from app.storage.db import Database
from app.storage.repositories.sweep_jobs import STATUSES, SweepJobRecord, SweepJobsRepository
from app.validation import check_blob_uri, check_data_path, resolve_under

__all__ = [
    "JOB_EVENT_TYPE",
    "STATUSES",
    "JobHeartbeat",
    "SweepJobCreate",
    "SweepJobDetail",
    "SweepJobList",
    "SweepJobPublic",
    "SweepJobService",
    "load_job_config",
]

log = logging.getLogger(__name__)

JOB_EVENT_TYPE = "sweep.job"
Status = Literal["queued", "dispatched", "running", "completed", "failed"]
RESULTS_PREFIX = "sweeps"
"""Results of job ``J`` are copied to ``trader-data/sweeps/J/`` so the API sees them from anywhere."""


class SweepJobCreate(BaseModel):
    """Body of ``POST /backtests/sweeps/jobs``: a config file or blob, and overrides merged into it."""

    model_config = ConfigDict(extra="forbid")

    config_path: str | None = Field(
        default=None, max_length=1024, description="Path of a YAML under the server's configs/."
    )
    config_blob: str | None = Field(
        default=None, max_length=1024, description="blob://configs/<file> instead of a path."
    )
    strategy: str | None = Field(default=None, max_length=64, description="Replaces the config's strategy.")
    symbol: str | None = Field(
        default=None, max_length=32, description="Replaces the config's symbols with this one."
    )
    overrides: dict[str, Any] = Field(default_factory=dict, description="Other top-level config keys.")

    @model_validator(mode="after")
    def _one_source(self) -> SweepJobCreate:
        if (self.config_path is None) == (self.config_blob is None):
            raise ValueError("give exactly one of config_path or config_blob")
        return self


class SweepJobPublic(BaseModel):
    """A job as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    job_id: str
    status: Status
    config_path: str | None
    config_blob: str | None
    strategy: str | None
    symbol: str | None
    config: dict[str, Any]
    output_dir: str | None
    execution_name: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class SweepJobDetail(SweepJobPublic):
    """One job with its run summary and the top rows of its leaderboard (once written)."""

    summary: dict[str, Any] | None = None
    leaderboard: list[dict[str, Any]] = Field(default_factory=list)


class SweepJobList(BaseModel):
    items: list[SweepJobPublic]
    counts: dict[str, int]
    total: int


def _config_root() -> Path:
    return (Path.cwd() / "configs").resolve()


class SweepJobService:
    """Submits sweep jobs and moves them through their lifecycle."""

    def __init__(self, settings: Settings, db: Database, blob: BlobStore, bus: Bus | None = None) -> None:
        self.settings = settings
        self.db = db
        self.jobs = SweepJobsRepository(db)
        self.blob = blob
        self.bus = bus

    # --- submission -----------------------------------------------------------------------
    def _resolve_path(self, raw: str) -> Path:
        return resolve_under("config_path", raw, (_config_root(),), (".yaml", ".yml"), base=Path.cwd())

    def _check_source(self, request: SweepJobCreate) -> None:
        if request.config_blob is not None:
            check_blob_uri(request.config_blob, (self.settings.BLOB_CONTAINER_CONFIGS,), (".yaml", ".yml"))

    def _check_config(self, config: SweepConfig) -> None:
        """What a client may not choose: files on the server, a sweep above the limits."""
        from app.strategies import STRATEGIES

        if config.strategy not in STRATEGIES:
            known = ", ".join(sorted(STRATEGIES))
            raise InputError(f"unknown strategy {config.strategy!r} (known: {known})")
        if config.vendor == "file" or config.data_path is not None:
            if config.data_path is None:
                raise InputError("vendor 'file' needs data_path")
            check_data_path(config.data_path, self.settings.sweep_data_roots)
        cores = os.cpu_count() or 1
        if config.execution.workers is not None and config.execution.workers > cores:
            raise InputError(f"execution.workers must be at most {cores} (the cores of this host)")
        check_sweep_size(config, self.settings.SWEEP_MAX_SETS)

    def submit(self, request: SweepJobCreate) -> SweepJobPublic:
        """Validate the config, store it as a blob, record the job as queued and publish it.

        Raises:
            InputError: bad path, bad config or bad override (the message has line numbers).
            BusError: the jobs hub refused the event (the job is then recorded as failed).
        """
        if self.bus is None:
            raise ConfigError("SweepJobService.submit needs a bus")
        self._check_source(request)
        overrides = {**request.overrides, "strategy": request.strategy, "symbol": request.symbol}
        try:
            if request.config_path is not None:
                config = load_job_config(
                    self.blob, config_path=self._resolve_path(request.config_path), **overrides
                )
            else:
                config = load_job_config(self.blob, config_blob=request.config_blob, **overrides)
        except (ConfigError, NotFoundError) as exc:
            raise InputError(_without_server_paths(str(exc))) from None
        self._check_config(config)
        job_id = uuid.uuid4().hex
        key = f"{RESULTS_PREFIX}/{job_id}.yaml"
        self.blob.put_text(
            self.settings.BLOB_CONTAINER_CONFIGS,
            key,
            yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
        )
        config_blob = f"blob://{self.settings.BLOB_CONTAINER_CONFIGS}/{key}"
        self.jobs.add_queued(
            job_id,
            config_path=request.config_path,
            config_blob=config_blob,
            strategy=config.strategy,
            symbol=",".join(config.symbols)[:32],
            config=config.model_dump(mode="json"),
        )
        payload = {"job_id": job_id, "config_blob": config_blob, "config_path": request.config_path}
        try:
            self.bus.publish(
                self.settings.EH_HUB_JOBS, [Envelope.wrap(JOB_EVENT_TYPE, payload, partition_key=job_id)]
            )
        except Exception as exc:
            self.mark_failed(job_id, f"publish to {self.settings.EH_HUB_JOBS} failed: {exc}")
            raise
        log.info("sweep job queued", extra={"job_id": job_id, "strategy": config.strategy})
        return self.get(job_id)

    # --- reads ----------------------------------------------------------------------------
    def get(self, job_id: str) -> SweepJobPublic:
        """Return the job.

        Raises:
            NotFoundError: no job has that id.
        """
        return _public(self.jobs.get(job_id))

    def find(self, job_id: str) -> SweepJobPublic | None:
        job = self.jobs.find(job_id)
        return None if job is None else _public(job)

    def detail(self, job_id: str, top: int = 10) -> SweepJobDetail:
        self.expire_stale()
        job = self.get(job_id)
        summary, leaderboard = self._results(job, top)
        return SweepJobDetail(**job.model_dump(), summary=summary, leaderboard=leaderboard)

    def list_jobs(self, status: str | None = None, limit: int = 50) -> SweepJobList:
        if status is not None and status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        self.expire_stale()
        items = [_public(job) for job in self.jobs.newest(status=status, limit=limit)]
        counts = self.jobs.counts()
        return SweepJobList(items=items, counts=counts, total=sum(counts.values()))

    def _results(self, job: SweepJobPublic, top: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        container = self.settings.BLOB_CONTAINER_DATA
        prefix = f"{RESULTS_PREFIX}/{job.job_id}"
        summary_text: str | None = None
        board_text: str | None = None
        if self.blob.exists(container, f"{prefix}/run.json"):
            summary_text = self.blob.get_text(container, f"{prefix}/run.json")
            if self.blob.exists(container, f"{prefix}/leaderboard.csv"):
                board_text = self.blob.get_text(container, f"{prefix}/leaderboard.csv")
        elif job.output_dir is not None and (Path(job.output_dir) / "run.json").is_file():
            summary_text = (Path(job.output_dir) / "run.json").read_text(encoding="utf-8")
            board = Path(job.output_dir) / "leaderboard.csv"
            board_text = board.read_text(encoding="utf-8") if board.is_file() else None
        summary = json.loads(summary_text) if summary_text else None
        rows: list[dict[str, Any]] = []
        if board_text:
            for i, row in enumerate(csv.DictReader(io.StringIO(board_text))):
                if i >= top:
                    break
                rows.append({k: _number(v) for k, v in row.items()})
        return summary, rows

    # --- lifecycle ------------------------------------------------------------------------
    def claim(self, job_id: str) -> bool:
        """Move a queued job to dispatched; ``False`` when it was already claimed (redelivery)."""
        return self.jobs.claim(job_id)

    def record_execution(self, job_id: str, execution_name: str) -> None:
        self.jobs.record_execution(job_id, execution_name)

    def release(self, job_id: str, error: str) -> None:
        """Return a dispatched job to the queue after a transient dispatch failure."""
        self.jobs.release(job_id, error)

    def heartbeat(self, job_id: str) -> bool:
        """Renew a running job's lease (its ``updated_at``); ``False`` when it is no longer running."""
        return self.jobs.heartbeat(job_id)

    def expire_stale(self) -> list[str]:
        """Mark failed every running job whose lease ran out: its worker died or was killed.

        A running job renews ``updated_at`` every ``SWEEP_JOB_LEASE_S / 3`` seconds
        (:class:`JobHeartbeat`); one silent for a whole lease is recorded ``failed``.
        """
        lease_s = self.settings.SWEEP_JOB_LEASE_S
        stale = self.jobs.expire_running(
            lease_s,
            f"the sweep worker stopped renewing its lease for {lease_s:g} s "
            "(SWEEP_JOB_LEASE_S): it died or was killed",
        )
        for job_id in stale:
            log.error("sweep job lease expired: marked failed", extra={"job_id": job_id})
        return list(stale)

    def mark_running(self, job_id: str, output_dir: str) -> None:
        self.jobs.mark_running(job_id, output_dir)

    def mark_completed(self, job_id: str) -> None:
        self.jobs.mark_completed(job_id)

    def mark_failed(self, job_id: str, error: str) -> None:
        self.jobs.mark_failed(job_id, error)

    def publish_results(self, job_id: str, output_dir: Path) -> None:
        """Copy the run summary and leaderboard to ``trader-data/sweeps/<job_id>/``."""
        container = self.settings.BLOB_CONTAINER_DATA
        for name in ("run.json", "leaderboard.csv"):
            file = output_dir / name
            if file.is_file():
                self.blob.put_bytes(container, f"{RESULTS_PREFIX}/{job_id}/{name}", file.read_bytes())


class JobHeartbeat:
    """Renews a running job's lease from a daemon thread until stopped (use as a context manager)."""

    def __init__(self, service: SweepJobService, job_id: str) -> None:
        self._service = service
        self._job_id = job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sweep-heartbeat-{job_id}", daemon=True)

    def _loop(self) -> None:
        interval = self._service.settings.SWEEP_JOB_LEASE_S / 3
        while not self._stop.wait(interval):
            try:
                if not self._service.heartbeat(self._job_id):
                    return
            except Exception as exc:  # a missed beat is retried; the lease covers three
                log.warning("sweep heartbeat failed", extra={"job_id": self._job_id, "error": str(exc)})

    def __enter__(self) -> JobHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _without_server_paths(message: str) -> str:
    """Show a config file by its path under the working directory, never its absolute location."""
    return message.replace(f"{Path.cwd()}{os.sep}", "")


def _public(job: SweepJobRecord) -> SweepJobPublic:
    return SweepJobPublic.model_validate(job)


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
