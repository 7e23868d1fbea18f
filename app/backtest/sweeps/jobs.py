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
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.backtest.sweeps.config import load_job_config
from app.bus.envelope import Envelope
from app.bus.ports import Bus
from app.config import Settings
from app.errors import ConfigError, InputError, NotFoundError
from app.storage.blob import BlobStore
from app.storage.db import Database
from app.storage.repositories.sweep_jobs import STATUSES, SweepJobRecord, SweepJobsRepository

__all__ = [
    "JOB_EVENT_TYPE",
    "STATUSES",
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

    config_path: str | None = Field(default=None, description="Path of a YAML under the server's configs/.")
    config_blob: str | None = Field(default=None, description="blob://configs/<file> instead of a path.")
    strategy: str | None = Field(default=None, description="Replaces the config's strategy.")
    symbol: str | None = Field(default=None, description="Replaces the config's symbols with this one.")
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
        path = Path(raw)
        resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
        root = _config_root()
        if resolved.suffix not in (".yaml", ".yml") or not resolved.is_relative_to(root):
            raise InputError(f"config_path must be a .yaml file under {root}: {raw!r}")
        if not resolved.is_file():
            raise InputError(f"config_path does not exist: {raw!r}")
        return resolved

    def submit(self, request: SweepJobCreate) -> SweepJobPublic:
        """Validate the config, store it as a blob, record the job as queued and publish it.

        Raises:
            InputError: bad path, bad config or bad override (the message has line numbers).
            BusError: the jobs hub refused the event (the job is then recorded as failed).
        """
        if self.bus is None:
            raise ConfigError("SweepJobService.submit needs a bus")
        overrides = {**request.overrides, "strategy": request.strategy, "symbol": request.symbol}
        try:
            if request.config_path is not None:
                config = load_job_config(
                    self.blob, config_path=self._resolve_path(request.config_path), **overrides
                )
            else:
                config = load_job_config(self.blob, config_blob=request.config_blob, **overrides)
        except (ConfigError, NotFoundError) as exc:
            raise InputError(str(exc)) from None
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
        job = self.get(job_id)
        summary, leaderboard = self._results(job, top)
        return SweepJobDetail(**job.model_dump(), summary=summary, leaderboard=leaderboard)

    def list_jobs(self, status: str | None = None, limit: int = 50) -> SweepJobList:
        if status is not None and status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
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
