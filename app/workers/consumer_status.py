"""A consumer's heartbeat: lag and counters in a small JSON blob that ``/health/ready`` reads.

The consumer and the API may run in different processes or containers; both reach the blob
store, so the consumer writes its status there (container ``BLOB_CONTAINER_DATA``, key
``consumers/<hub>/<group>/<name>.json``) and the API registers :func:`lag_readiness_check`.
The status value, its storage and :func:`book_age` live in :mod:`app.bus.consumer_lag`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.bootstrap import Container, ReadinessCheck
from app.bus.consumer_lag import (
    LAG_LIMIT_S,
    ConsumerStatus,
    book_age,
    order_book_age,
    read_status,
    status_key,
    write_status,
)
from app.errors import BusError

__all__ = [
    "LAG_LIMIT_S",
    "ConsumerStatus",
    "book_age",
    "lag_readiness_check",
    "order_book_age",
    "read_status",
    "status_key",
    "write_status",
]


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
