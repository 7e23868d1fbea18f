"""A consumer's heartbeat: lag and counters in a small JSON blob that ``/health/ready`` reads.

The consumer and the API may run in different processes or containers; both reach the blob
store, so the consumer writes its status there (container ``BLOB_CONTAINER_DATA``, key
``consumers/<hub>/<group>/<name>.json``) and the API registers :func:`lag_readiness_check`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from app.bootstrap import Container, ReadinessCheck
from app.errors import BusError, NotFoundError
from app.storage.blob import BlobStore

__all__ = ["ConsumerStatus", "lag_readiness_check", "read_status", "status_key", "write_status"]

LAG_LIMIT_S = 60.0
"""Seconds behind the newest event past which a consumer counts as degraded."""


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    """What one consumer process last reported."""

    name: str
    hub: str
    group: str
    state: str  # "running" or "stopped"
    lag_seconds: float
    events_behind: int
    events: int
    dead_lettered: int
    heartbeat_s: float
    updated_at: str
    host: str
    pid: int

    @property
    def degraded(self) -> bool:
        return self.state == "running" and self.lag_seconds > LAG_LIMIT_S


def status_key(name: str, hub: str, group: str) -> str:
    return f"consumers/{hub}/{group}/{name}.json"


def write_status(blob: BlobStore, container: str, status: ConsumerStatus) -> None:
    """Store ``status``; raises :class:`~app.errors.StorageError` when the blob store fails."""
    blob.put_text(container, status_key(status.name, status.hub, status.group), json.dumps(asdict(status)))


def read_status(blob: BlobStore, container: str, name: str, hub: str, group: str) -> ConsumerStatus | None:
    """The last status the consumer wrote, or ``None`` when it never ran here."""
    try:
        data = json.loads(blob.get_text(container, status_key(name, hub, group)))
    except NotFoundError:
        return None
    return ConsumerStatus(**data)


def lag_readiness_check(services: Container, name: str, hub: str, group: str) -> ReadinessCheck:
    """A ``/health/ready`` check that fails while the consumer lags or stopped reporting.

    A consumer that never ran, or that stopped cleanly, does not fail the check.
    """
    settings = services.settings

    def check() -> None:
        status = read_status(services.blob, settings.BLOB_CONTAINER_DATA, name, hub, group)
        if status is None or status.state != "running":
            return
        if status.degraded:
            raise BusError(
                f"degraded: {name} is {status.lag_seconds:.0f} s behind {hub} for group {group} "
                f"(limit {LAG_LIMIT_S:.0f} s, {status.events_behind} events)"
            )
        age = (datetime.now(UTC) - datetime.fromisoformat(status.updated_at)).total_seconds()
        silent_limit = max(LAG_LIMIT_S, 3 * status.heartbeat_s)
        if age > silent_limit:
            raise BusError(
                f"degraded: {name} on {hub}/{group} (pid {status.pid} on {status.host}) "
                f"has not reported for {age:.0f} s"
            )

    return check
