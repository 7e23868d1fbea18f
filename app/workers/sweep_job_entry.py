"""The sweep job's entry point: ``ai-trader sweep run``, ``python -m app.workers.sweep_job_entry``
and ``scripts/sweep_job_entry.py`` (the Container Apps job runs it; the local dispatcher starts
``python -m app.workers.sweep_job_entry``).

Configuration comes from the environment (each key also has an option that wins over it:
``--config``, ``--config-blob``, ``--output-dir``, ``--job-id``):

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

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from app.config import Settings, load_settings
from app.errors import AiTraderError, ConfigError, InputError, NotFoundError
from app.observability import configure_logging

if TYPE_CHECKING:
    from app.backtest.sweeps.jobs import SweepJobService
    from app.bootstrap import Container

__all__ = ["build_parser", "main", "output_dir_for"]

SHIM_PROG = "sweep_job_entry.py"

log = logging.getLogger("app.workers.sweep_job_entry")


def output_dir_for(settings: Settings, config_name: str) -> Path:
    """Where a run writes: see the module docstring."""
    base = settings.SWEEP_OUTPUT_DIR or settings.OUTPUT_DIR
    if settings.SWEEP_JOB_ID:
        return (base or settings.ARTIFACTS_DIR / "backtests" / "sweeps") / settings.SWEEP_JOB_ID
    return base if base is not None else settings.ARTIFACTS_DIR / "backtests" / "sweeps" / config_name


def _run(container: Container) -> int:
    from app.backtest.sweeps import run_sweep
    from app.backtest.sweeps.config import load_job_config

    settings = container.settings
    blob = container.blob
    job_id = settings.SWEEP_JOB_ID
    registry: SweepJobService | None = None
    if job_id:
        from app.backtest.sweeps.jobs import SweepJobService

        registry = SweepJobService(settings, container.db, blob)
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
                result = run_sweep(config, output_dir, settings=settings, deps=container.sweep_deps)
        else:
            result = run_sweep(config, output_dir, settings=settings, deps=container.sweep_deps)
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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see --help)\n")
        raise SystemExit(2)


_OPTION_KEYS = {
    "config": "SWEEP_CONFIG_PATH",
    "config_blob": "SWEEP_CONFIG_BLOB",
    "output_dir": "SWEEP_OUTPUT_DIR",
    "job_id": "SWEEP_JOB_ID",
}


def build_parser(prog: str = SHIM_PROG) -> argparse.ArgumentParser:
    """Options of ``ai-trader sweep run``; each overrides the environment key it names."""
    parser = _Parser(prog=prog, description="Run one parameter sweep (configured by env vars or options).")
    parser.add_argument("--config", metavar="PATH", help="sweep YAML (SWEEP_CONFIG_PATH)")
    parser.add_argument(
        "--config-blob",
        metavar="blob://configs/FILE",
        help="sweep YAML in the blob store (SWEEP_CONFIG_BLOB)",
    )
    parser.add_argument("--output-dir", metavar="DIR", help="output folder (SWEEP_OUTPUT_DIR)")
    parser.add_argument("--job-id", metavar="ID", help="sweep_registry job to track (SWEEP_JOB_ID)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = SHIM_PROG) -> int:
    """Run the sweep the environment (and ``argv``'s options) describe; return the exit code.

    ``argv`` defaults to no options (the Container Apps job passes none); the script and
    ``python -m`` shims pass their command line.
    """
    from app.bootstrap import Container

    args = build_parser(prog).parse_args(list(argv or []))
    overrides: dict[str, Any] = {
        key: getattr(args, name) for name, key in _OPTION_KEYS.items() if getattr(args, name) is not None
    }
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.LOG_LEVEL)
    try:
        with Container(settings) as container:
            return _run(container)
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except AiTraderError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except Exception as exc:
        # imported here: app.failures loads SQLAlchemy (~0.3 s), which a sweep without a
        # registry job never needs otherwise
        from app.failures import EDGE_FAILURES, describe_failure

        if not isinstance(exc, EDGE_FAILURES):
            raise
        print(f"error: {describe_failure(exc)}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m app.workers.sweep_job_entry"))
