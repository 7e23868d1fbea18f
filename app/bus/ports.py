"""The bus interface every producer and consumer uses; backends implement it.

Delivery is at-least-once: a consumer calls :meth:`Consumer.checkpoint` only after its
handler committed, so a restart resumes after the last checkpoint and may see a few events
again; handlers dedupe by ``event_id`` (or a natural key such as ``client_order_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import msgspec

from app.bus.envelope import Envelope

__all__ = [
    "Bus",
    "BusAdmin",
    "Consumer",
    "DeadLetter",
    "DeadLetterAdmin",
    "Delivered",
    "PartitionLag",
    "PublishReceipt",
]


@dataclass(frozen=True, slots=True)
class PublishReceipt:
    hub: str
    partition: int
    offset: str
    event_id: str


class Delivered(msgspec.Struct, frozen=True, gc=False):
    """One event as read from a partition.

    ``envelope`` is ``None`` when the raw bytes failed validation; ``error`` then says why,
    and the consumer should dead-letter it and checkpoint past it. A frozen ``msgspec.Struct``
    rather than a dataclass: consumers build one per event, and this is ten times cheaper.
    """

    hub: str
    partition: int
    offset: str
    sequence: int
    enqueued_at: datetime
    raw: bytes
    envelope: Envelope | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionLag:
    hub: str
    group: str
    partition: int
    events_behind: int
    seconds_behind: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered event; ``id`` names it for a replay, ``replayed_at`` says whether
    (and when) ``ai-trader bus dead-letters replay`` published it again."""

    hub: str
    group: str
    partition: int
    offset: str
    reason: str
    raw: bytes
    recorded_at: datetime
    id: str = ""
    replayed_at: datetime | None = None


@runtime_checkable
class Consumer(Protocol):
    """Reads one hub for one consumer group, resuming from the group's checkpoints."""

    def poll(self, max_events: int = 500, timeout_s: float = 1.0) -> list[Delivered]:
        """Return up to ``max_events`` in partition order; empty after ``timeout_s`` of silence."""
        ...

    def checkpoint(self, delivered: Sequence[Delivered]) -> None:
        """Record that everything up to and including these events is done."""
        ...

    def dead_letter(self, delivered: Delivered, reason: str) -> None:
        """Store an event that cannot be handled, with the reason (then checkpoint past it)."""
        ...

    def lag(self) -> list[PartitionLag]:
        """Events and seconds behind the newest event, per partition."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """Publishes to and consumes from the runbook's hubs."""

    kind: str

    def publish(self, hub: str, events: Sequence[Envelope]) -> list[PublishReceipt]:
        """Append events; the partition is chosen by each envelope's ``partition_key``."""
        ...

    def consumer(self, hub: str, group: str) -> Consumer: ...

    def dead_letters(self, hub: str, group: str, limit: int = 100) -> list[DeadLetter]: ...

    def provision(self) -> list[str]:
        """Create hubs and consumer groups; return a line per action taken (or command to run)."""
        ...

    def ping(self) -> None:
        """Return when the backend answers; raise ``BusError`` with the reason when it does not."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BusAdmin(Protocol):
    """Operations tools use on top of :class:`Bus` (every shipped backend offers them)."""

    def peek(self, hub: str, limit: int = 10) -> list[Delivered]:
        """The newest ``limit`` events of ``hub`` across partitions, oldest first."""
        ...

    def apply_retention(self, now: float | None = None) -> int:
        """Drop events older than the hub's retention; return how many (0 where the service does it)."""
        ...


@runtime_checkable
class DeadLetterAdmin(Protocol):
    """Replay support: remember which dead letters were published again (every backend)."""

    def mark_replayed(self, hub: str, group: str, ids: Sequence[str]) -> None:
        """Record that the dead letters ``ids`` of ``hub``/``group`` were published again."""
        ...
