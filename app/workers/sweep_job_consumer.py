"""The sweep job consumer: ``backtest.jobs`` events -> a started sweep -> ``dispatched``.

For each ``sweep.job`` event it claims the job in ``sweep_registry`` (queued -> dispatched,
atomically, so a redelivered event never starts a second run), then starts the sweep:

* ``SWEEP_JOB_RESOURCE_ID`` set: the Container Apps job, through the Azure management SDK,
  with ``SWEEP_CONFIG_BLOB`` and ``SWEEP_JOB_ID`` set on container ``SWEEP_JOB_CONTAINER``;
* otherwise: ``scripts/sweep_job_entry.py`` as a local subprocess (one at a time).

It checkpoints after each handled event. Hub health probes (``diagnostics.quicksend``, sent by
``scripts/check_quicksend_eventhubs.py --hub backtest.jobs``) are skipped and checkpointed past.
Malformed events and events naming an unknown job are dead-lettered. A dispatch that keeps
failing marks the job ``failed`` with the reason.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol

from app.backtest.sweeps.jobs import JOB_EVENT_TYPE, SweepJobPublic, SweepJobService
from app.bus.diagnostics import QUICKSEND_EVENT
from app.bus.ports import Bus, Consumer, Delivered
from app.config import Settings
from app.errors import AiTraderError, ConfigError, RetryableError

__all__ = [
    "ACCEPTED_KEYS",
    "ContainerAppsDispatcher",
    "Dispatcher",
    "LocalDispatcher",
    "SweepJobConsumer",
    "make_dispatcher",
    "parse_job_resource_id",
]

log = logging.getLogger(__name__)

ACCEPTED_KEYS: frozenset[str] = frozenset(
    {
        "EH_FQDN",
        "EH_HUB_JOBS",
        "EH_CONSUMER_GROUP_SWEEP",
        "EH_CONNECTION_STRING",
        "SWEEP_JOB_RESOURCE_ID",
        "SWEEP_JOB_CONTAINER",
        "STORAGE_ACCOUNT",
        "CHECKPOINT_CONTAINER",
        "AZURE_STORAGE_CONNECTION_STRING",
        "BLOB_URL",
        "BUS_URL",
        "REDIS_URL",
        "DATABASE_URL",
        "DATA_DIR",
        "ARTIFACTS_DIR",
        "LOCAL_DEV",
        "LOG_LEVEL",
        "IDLE_EXIT_SECONDS",
    }
)
"""``KEY=VALUE`` arguments ``scripts/sweep_job_consumer.py`` takes."""

ENTRY_MODULE = "app.workers.sweep_job_entry"
"""What the local dispatcher runs per job (``python -m``): the installed package, not a checkout path."""
_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.App/jobs/(?P<job>[^/]+)/?$",
    re.IGNORECASE,
)


class Dispatcher(Protocol):
    """Starts one sweep run for a job and returns the execution's name."""

    kind: str

    def start(self, job: SweepJobPublic) -> str: ...

    def close(self) -> None: ...


def parse_job_resource_id(resource_id: str) -> tuple[str, str, str]:
    """Split a Container Apps job resource id into ``(subscription, resource group, job name)``.

    Raises:
        ConfigError: the id is not of the form
            ``/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.App/jobs/<name>``.
    """
    match = _RESOURCE_ID.match(resource_id.strip())
    if match is None:
        raise ConfigError(
            "SWEEP_JOB_RESOURCE_ID must look like /subscriptions/<sub>/resourceGroups/<rg>"
            f"/providers/Microsoft.App/jobs/<name>; got {resource_id!r}"
        )
    return match.group("sub"), match.group("rg"), match.group("job")


# --- local subprocess -------------------------------------------------------------------------


@dataclass
class _Child:
    job_id: str
    process: subprocess.Popen[bytes]
    log_file: IO[bytes]


@dataclass
class LocalDispatcher:
    """Runs ``python -m app.workers.sweep_job_entry`` as a child process per job, at most
    ``max_running`` at a time.

    ``env`` is layered over this process's environment (the consumer's ``KEY=VALUE`` arguments,
    so children see the same database, blob store and data folders). ``script``, when set, is
    run instead of the entry module (tests start stand-ins this way).
    """

    settings: Settings
    env: Mapping[str, str] = field(default_factory=dict)
    max_running: int = 1
    script: Path | None = None
    on_exit: Callable[[str, int], None] | None = None
    kind: str = "local"
    _children: list[_Child] = field(default_factory=list)

    def start(self, job: SweepJobPublic) -> str:
        self._reap(block_until_below=self.max_running)
        env = {**os.environ, **self.env}
        env.pop("SWEEP_CONFIG_PATH", None)
        env.update(
            {
                "DATA_DIR": str(Path(self.settings.DATA_DIR).resolve()),
                "ARTIFACTS_DIR": str(Path(self.settings.ARTIFACTS_DIR).resolve()),
                "SWEEP_JOB_ID": job.job_id,
                "SWEEP_CONFIG_BLOB": job.config_blob or "",
            }
        )
        if job.config_blob is None and job.config_path is not None:
            env["SWEEP_CONFIG_PATH"] = job.config_path
        logs = Path(self.settings.DATA_DIR).resolve() / "sweep-jobs"
        logs.mkdir(parents=True, exist_ok=True)
        log_file = (logs / f"{job.job_id}.log").open("ab")
        try:
            process = subprocess.Popen(
                self.argv(),
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=Path.cwd(),
            )
        except OSError as exc:
            log_file.close()
            raise ConfigError(f"cannot start {' '.join(self.argv())}: {exc}") from exc
        self._children.append(_Child(job.job_id, process, log_file))
        return f"local-{process.pid}"

    def argv(self) -> list[str]:
        """The child's command line."""
        if self.script is not None:
            return [sys.executable, str(self.script)]
        return [sys.executable, "-m", ENTRY_MODULE]

    def _reap(self, block_until_below: int | None = None) -> None:
        while True:
            for child in list(self._children):
                code = child.process.poll()
                if code is not None:
                    child.log_file.close()
                    self._children.remove(child)
                    if self.on_exit is not None:
                        self.on_exit(child.job_id, code)
            if block_until_below is None or len(self._children) < block_until_below:
                return
            time.sleep(0.05)

    @property
    def running(self) -> int:
        self._reap()
        return len(self._children)

    def close(self) -> None:
        """Wait for every child to finish."""
        self._reap(block_until_below=1)


# --- Azure Container Apps job ------------------------------------------------------------------


class ContainerAppsDispatcher:
    """Starts the Container Apps job with per-job env overrides (``az containerapp job start``).

    The job's current template is read first so the started execution keeps its image,
    command, resources and env, with ``SWEEP_CONFIG_BLOB`` / ``SWEEP_JOB_ID`` set on top.
    """

    kind = "aca"

    def __init__(self, resource_id: str, container: str, client: Any) -> None:
        self.subscription, self.resource_group, self.job_name = parse_job_resource_id(resource_id)
        self.container = container
        self.client = client

    def start(self, job: SweepJobPublic) -> str:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
        from azure.mgmt.appcontainers.models import (
            EnvironmentVar,
            JobExecutionContainer,
            JobExecutionTemplate,
        )

        overrides = {"SWEEP_JOB_ID": job.job_id, "SWEEP_CONFIG_BLOB": job.config_blob or ""}
        try:
            definition = self.client.jobs.get(self.resource_group, self.job_name)
            containers = list(definition.properties.template.containers or [])
            current = next((c for c in containers if c.name == self.container), None)
            if current is None:
                names = ", ".join(str(c.name) for c in containers) or "none"
                raise ConfigError(
                    f"Container Apps job {self.job_name!r} has no container {self.container!r} "
                    f"(SWEEP_JOB_CONTAINER); it has: {names}"
                )
            env = [e for e in (current.env or []) if e.name not in overrides]
            env += [EnvironmentVar(name=k, value=v) for k, v in overrides.items()]
            template = JobExecutionTemplate(
                containers=[
                    JobExecutionContainer(
                        name=current.name,
                        image=current.image,
                        command=current.command,
                        args=current.args,
                        env=env,
                        resources=current.resources,
                    )
                ]
            )
            execution = self.client.jobs.begin_start(self.resource_group, self.job_name, template).result()
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise RetryableError(f"Container Apps management endpoint unreachable: {exc}") from exc
        except HttpResponseError as exc:
            status = exc.status_code or 0
            message = f"starting Container Apps job {self.job_name!r} failed: HTTP {status}: {exc.message}"
            if status == 429 or status >= 500:
                raise RetryableError(message) from exc
            raise ConfigError(message) from exc
        name = getattr(execution, "name", None) or "unknown"
        return str(name)

    def close(self) -> None:
        self.client.close()


def make_dispatcher(
    settings: Settings, env: Mapping[str, str] | None = None, **client_kwargs: Any
) -> Dispatcher:
    """Container Apps when ``SWEEP_JOB_RESOURCE_ID`` is set, else a local subprocess.

    ``client_kwargs`` go to the Container Apps client (``credential``, ``base_url`` ...).
    """
    if settings.SWEEP_JOB_RESOURCE_ID:
        return container_apps_dispatcher(settings, **client_kwargs)
    return LocalDispatcher(settings, env=dict(env or {}))


def container_apps_dispatcher(settings: Settings, **client_kwargs: Any) -> ContainerAppsDispatcher:
    """The dispatcher for ``SWEEP_JOB_RESOURCE_ID``; its client comes from the composition root.

    ``client_kwargs`` go to ``ContainerAppsAPIClient`` (``credential``, ``base_url``, transport options).
    """
    from app.bootstrap import build_container_apps_client

    if not settings.SWEEP_JOB_RESOURCE_ID:
        raise ConfigError("the Container Apps dispatcher needs SWEEP_JOB_RESOURCE_ID")
    subscription, _, _ = parse_job_resource_id(settings.SWEEP_JOB_RESOURCE_ID)
    client = build_container_apps_client(settings, subscription, **client_kwargs)
    return ContainerAppsDispatcher(settings.SWEEP_JOB_RESOURCE_ID, settings.SWEEP_JOB_CONTAINER, client)


# --- the consumer loop ------------------------------------------------------------------------


class SweepJobConsumer:
    """Reads ``EH_HUB_JOBS`` for ``EH_CONSUMER_GROUP_SWEEP`` and dispatches each job once."""

    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        service: SweepJobService,
        dispatcher: Dispatcher,
        *,
        dispatch_attempts: int = 3,
        backoff_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.service = service
        self.dispatcher = dispatcher
        self.dispatch_attempts = dispatch_attempts
        self.backoff_s = backoff_s
        self._stop = threading.Event()
        self.handled = 0
        if isinstance(dispatcher, LocalDispatcher) and dispatcher.on_exit is None:
            dispatcher.on_exit = self._child_exited

    def stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self, idle_exit_s: float | None = None, poll_timeout_s: float = 1.0) -> int:
        """Consume until stopped (SIGTERM / SIGINT), or ``idle_exit_s`` passed with nothing new.

        Returns the number of events handled.
        """
        hub, group = self.settings.EH_HUB_JOBS, self.settings.EH_CONSUMER_GROUP_SWEEP
        consumer = self.bus.consumer(hub, group)
        log.info(
            "sweep job consumer started",
            extra={
                "hub": hub,
                "group": group,
                "dispatcher": self.dispatcher.kind,
                "idle_exit_s": idle_exit_s,
            },
        )
        last_event = time.monotonic()
        try:
            while not self._stop.is_set():
                batch = consumer.poll(max_events=16, timeout_s=poll_timeout_s)
                if batch:
                    self._handle_batch(consumer, batch)
                    last_event = time.monotonic()
                    continue
                busy = isinstance(self.dispatcher, LocalDispatcher) and self.dispatcher.running > 0
                if busy:
                    last_event = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - last_event >= idle_exit_s:
                    log.info("sweep job consumer idle; exiting", extra={"idle_exit_s": idle_exit_s})
                    break
        finally:
            consumer.close()
            self.dispatcher.close()
        return self.handled

    def _handle_batch(self, consumer: Consumer, batch: Sequence[Delivered]) -> None:
        for delivered in batch:
            if self._stop.is_set():
                return
            self._handle(consumer, delivered)
            consumer.checkpoint([delivered])
            self.handled += 1

    def _handle(self, consumer: Consumer, delivered: Delivered) -> None:
        envelope = delivered.envelope
        if envelope is None:
            consumer.dead_letter(delivered, delivered.error or "malformed envelope")
            return
        if envelope.type == QUICKSEND_EVENT:
            log.info(
                "skipped a hub health probe",
                extra={"event_id": envelope.event_id, "partition": delivered.partition},
            )
            return
        job_id = envelope.payload.get("job_id")
        if envelope.type != JOB_EVENT_TYPE or not isinstance(job_id, str) or not job_id:
            reason = f"expected a {JOB_EVENT_TYPE} event with a job_id; got type {envelope.type!r}"
            consumer.dead_letter(delivered, reason)
            return
        job = self.service.find(job_id)
        if job is None:
            consumer.dead_letter(delivered, f"sweep job {job_id!r} is not in sweep_registry")
            return
        if not self.service.claim(job_id):
            log.info(
                "sweep job already dispatched; skipping redelivery",
                extra={"job_id": job_id, "status": job.status},
            )
            return
        self._dispatch(job)

    def _dispatch(self, job: SweepJobPublic) -> None:
        for attempt in range(1, self.dispatch_attempts + 1):
            try:
                execution = self.dispatcher.start(job)
            except RetryableError as exc:
                log.warning(
                    "sweep dispatch failed; retrying", extra={"job_id": job.job_id, "attempt": attempt}
                )
                if attempt == self.dispatch_attempts:
                    self.service.mark_failed(job.job_id, f"dispatch failed after {attempt} attempts: {exc}")
                    return
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            except AiTraderError as exc:
                log.error("sweep dispatch refused", extra={"job_id": job.job_id, "error": str(exc)})
                self.service.mark_failed(job.job_id, f"dispatch failed: {exc}")
                return
            else:
                self.service.record_execution(job.job_id, execution)
                log.info(
                    "sweep job dispatched",
                    extra={"job_id": job.job_id, "execution": execution, "dispatcher": self.dispatcher.kind},
                )
                return

    def _child_exited(self, job_id: str, code: int) -> None:
        job = self.service.find(job_id)
        log.info("local sweep run exited", extra={"job_id": job_id, "code": code})
        if code != 0 and job is not None and job.status in ("dispatched", "running"):
            self.service.mark_failed(job_id, f"sweep_job_entry.py exited with code {code}")


def install_signal_handlers(consumer: SweepJobConsumer) -> None:
    """Stop after the current event on SIGTERM or SIGINT."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received; stopping", extra={"signal": signum})
        consumer.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``scripts/sweep_job_consumer.py``: exit 0 when done, 2 on bad input or
    settings, 1 when the bus or the dispatcher failed."""
    from app.bootstrap import Container
    from app.errors import InputError
    from app.observability import configure_logging
    from app.workers.kv_args import idle_exit_seconds, parse_kv_args, settings_from_kv

    try:
        values = parse_kv_args(list(sys.argv[1:] if argv is None else argv), ACCEPTED_KEYS)
        idle = idle_exit_seconds(values)
        settings = settings_from_kv(values)
    except (InputError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.LOG_LEVEL)
    container = Container(settings)
    try:
        container.db.upgrade()
        env = {k: v for k, v in values.items() if k != "IDLE_EXIT_SECONDS"}
        consumer = SweepJobConsumer(
            settings, container.bus, container.sweep_jobs, make_dispatcher(settings, env)
        )
    except (InputError, ConfigError) as exc:
        container.close()
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except BaseException:
        container.close()
        raise
    install_signal_handlers(consumer)
    try:
        consumer.run(idle_exit_s=idle)
    except (InputError, ConfigError) as exc:  # e.g. an Event Hubs consumer with no checkpoint store
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except AiTraderError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
