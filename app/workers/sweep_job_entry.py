"""The sweep job's entry point (``scripts/sweep_job_entry.py``; the Container Apps job runs it).

Configuration comes from the environment:

* ``SWEEP_CONFIG_PATH`` (a YAML file) or ``SWEEP_CONFIG_BLOB`` (``blob://configs/<file>``,
  read from the blob store; it wins when both are set);
* ``SWEEP_OUTPUT_DIR``, else ``OUTPUT_DIR``, else ``ARTIFACTS_DIR/backtests/sweeps``; the
  folder is used as given, except with ``SWEEP_JOB_ID`` set, where the job id is appended
  so jobs sharing a mounted share never mix their files;
* ``SWEEP_JOB_ID``: the ``sweep_registry`` entry this run moves to running, then completed
  (its summary and leaderboard copied to ``trader-data/sweeps/<job id>/``) or failed.

Exit codes: 0 done, 1 the sweep failed, 2 bad configuration.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings, load_settings
from app.errors import AiTraderError, ConfigError, InputError, NotFoundError
from app.failures import EDGE_FAILURES, describe_failure
from app.observability import configure_logging

if TYPE_CHECKING:
    from app.backtest.sweeps.jobs import SweepJobService

__all__ = ["main", "output_dir_for"]

log = logging.getLogger("app.workers.sweep_job_entry")


def output_dir_for(settings: Settings, config_name: str) -> Path:
    """Where a run writes: see the module docstring."""
    base = settings.SWEEP_OUTPUT_DIR or settings.OUTPUT_DIR
    if settings.SWEEP_JOB_ID:
        return (base or settings.ARTIFACTS_DIR / "backtests" / "sweeps") / settings.SWEEP_JOB_ID
    return base if base is not None else settings.ARTIFACTS_DIR / "backtests" / "sweeps" / config_name


def _run(settings: Settings) -> int:
    from app.backtest.sweeps import run_sweep
    from app.backtest.sweeps.config import load_job_config
    from app.storage.blob import BlobStore

    blob = BlobStore.from_settings(settings)
    job_id = settings.SWEEP_JOB_ID
    registry: SweepJobService | None = None
    if job_id:
        from app.backtest.sweeps.jobs import SweepJobService
        from app.storage.db import Database

        registry = SweepJobService(settings, Database.from_settings(settings), blob)
    try:
        config = load_job_config(
            blob, config_path=settings.SWEEP_CONFIG_PATH, config_blob=settings.SWEEP_CONFIG_BLOB or None
        )
    except (ConfigError, InputError, NotFoundError) as exc:
        if registry is not None and job_id:
            _safe_fail(registry, job_id, str(exc))
        raise
    output_dir = output_dir_for(settings, config.name)
    if registry is not None and job_id:
        try:
            registry.mark_running(job_id, str(output_dir))
        except NotFoundError:
            log.warning(
                "SWEEP_JOB_ID is not in sweep_registry; running without tracking", extra={"job_id": job_id}
            )
            registry = None
    try:
        if registry is not None and job_id:
            from app.backtest.sweeps.jobs import JobHeartbeat

            with JobHeartbeat(registry, job_id):
                result = run_sweep(config, output_dir, settings=settings)
        else:
            result = run_sweep(config, output_dir, settings=settings)
    except Exception as exc:
        if registry is not None and job_id:
            _safe_fail(registry, job_id, f"{type(exc).__name__}: {exc}")
        raise
    if registry is not None and job_id:
        registry.publish_results(job_id, output_dir)
        if result.succeeded:
            registry.mark_completed(job_id)
        else:
            registry.mark_failed(job_id, _failure_text(result.failed, result.total, result.errors))
    if not result.succeeded:
        log.error(
            "sweep job failed",
            extra={"job_id": job_id, "failed": result.failed, "total": result.total, "errors": result.errors},
        )
        print(f"error: {_failure_text(result.failed, result.total, result.errors)}", file=sys.stderr)  # noqa: T201
        return 1
    best = result.best
    log.info(
        "sweep job done",
        extra={
            "job_id": job_id,
            "output_dir": str(output_dir),
            "ok": result.ok,
            "failed": result.failed,
            "elapsed_s": round(result.elapsed_s, 3),
            "best": None if best is None else {"params": best["params"], "metrics": best["metrics"]},
        },
    )
    return 0


def _failure_text(failed: int, total: int, errors: list[str]) -> str:
    first = "; ".join(errors) or "no error recorded"
    return f"{failed} of {total} runs failed; first errors: {first}"


def _safe_fail(registry: SweepJobService, job_id: str, error: str) -> None:
    try:
        registry.mark_failed(job_id, error)
    except AiTraderError as exc:
        log.error("cannot record the failure in sweep_registry", extra={"job_id": job_id, "error": str(exc)})


def main() -> int:
    """Run the sweep the environment describes; return the exit code."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.LOG_LEVEL)
    try:
        return _run(settings)
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except AiTraderError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except EDGE_FAILURES as exc:
        print(f"error: {describe_failure(exc)}", file=sys.stderr)  # noqa: T201
        return 1
