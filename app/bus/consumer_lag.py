"""A consumer's heartbeat as a value, where it is stored, and what it says about the book's age.

The consumer writes its :class:`ConsumerStatus` to the blob store (container
``BLOB_CONTAINER_DATA``, key ``consumers/<hub>/<group>/<name>.json``); ``/health/ready``
(:mod:`app.workers.consumer_status`) and the order guard (:func:`book_age`) read it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from app.errors import NotFoundError
from app.storage.blob import BlobStore

__all__ = [
    "LAG_LIMIT_S",
    "ORDER_CONSUMER",
    "ConsumerStatus",
    "book_age",
    "read_status",
    "status_key",
    "write_status",
]

ORDER_CONSUMER = "order-consumer"
"""The order consumer's name in its status key (``app.workers.order_consumer.CONSUMER_NAME``)."""

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


def book_age(status: ConsumerStatus | None, now: datetime) -> float | None:
    """Seconds by which the order book (the rows the consumer writes) may be behind the bus.

    ``None`` when it is current: the consumer never ran here (nothing was published to it
    through this deployment's blob store), or it stopped cleanly with nothing left behind.
    A running consumer is behind by its reported lag, or, when it stopped reporting for more
    than three heartbeats, by the age of its last report; a consumer that stopped with events
    behind is behind by the age of its last report.
    """
    if status is None:
        return None
    age = max(0.0, (now - datetime.fromisoformat(status.updated_at)).total_seconds())
    if status.state != "running":
        return age if status.events_behind > 0 else None
    if age > max(LAG_LIMIT_S, 3 * status.heartbeat_s):
        return age
    return max(0.0, status.lag_seconds)


def order_book_age(blob: BlobStore, container: str, hub: str, group: str) -> float | None:
    """:func:`book_age` of the order consumer's last status now; raises when it cannot be read."""
    return book_age(read_status(blob, container, ORDER_CONSUMER, hub, group), datetime.now(UTC))
