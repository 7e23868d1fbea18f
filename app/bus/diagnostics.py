"""Round-trip and inspection checks for a hub, used by ``scripts/check_quicksend_eventhubs.py``."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from app.bus.envelope import Envelope
from app.bus.ports import Bus, BusAdmin, Consumer, Delivered
from app.errors import BusError

__all__ = ["QUICKSEND_EVENT", "QuicksendResult", "peek_rows", "quicksend"]

QUICKSEND_EVENT = "diagnostics.quicksend"
"""Event type of the check's test event; consumers other than ``diagnostics`` should skip it."""


@dataclass(frozen=True, slots=True)
class QuicksendResult:
    hub: str
    group: str
    event_id: str
    partition: int
    offset: str
    latency_s: float
    skipped_backlog: int


def _owned(consumer: Consumer) -> int:
    return len(getattr(consumer, "partitions", []))


def quicksend(
    bus: Bus, hub: str, *, group: str = "diagnostics", timeout_s: float = 30.0, partitions: int | None = None
) -> QuicksendResult:
    """Publish a uniquely tagged event to ``hub`` and read it back through ``group``.

    The group's backlog is read and checkpointed first, so the latency is this event's own:
    from the publish call to its delivery. Raises ``BusError`` when it does not come back
    within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    consumer = bus.consumer(hub, group)
    skipped = 0
    try:
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            batch = consumer.poll(500, 0.25)
            if batch:
                skipped += len(batch)
                consumer.checkpoint(batch)
                quiet_since = None
                continue
            quiet_since = quiet_since or time.monotonic()
            ready = partitions is None or _owned(consumer) >= partitions
            if ready and time.monotonic() - quiet_since >= 0.5:
                break
        tag = Envelope.wrap(
            QUICKSEND_EVENT,
            {"host": socket.gethostname(), "sent_at": datetime.now(UTC).isoformat()},
            partition_key=f"quicksend-{time.time_ns()}",
        )
        started = time.perf_counter()
        bus.publish(hub, [tag])
        while time.monotonic() < deadline:
            batch = consumer.poll(500, 0.25)
            if not batch:
                continue
            consumer.checkpoint(batch)
            mine = next(
                (d for d in batch if d.envelope is not None and d.envelope.event_id == tag.event_id), None
            )
            if mine is not None:
                latency = time.perf_counter() - started
                return QuicksendResult(
                    hub, group, tag.event_id, mine.partition, mine.offset, latency, skipped
                )
            skipped += len(batch)
        raise BusError(
            f"test event {tag.event_id} sent to {hub} did not come back through {group} in {timeout_s:g} s"
        )
    finally:
        consumer.close()


def _summary(item: Delivered, width: int) -> tuple[str, str, str]:
    if item.envelope is None:
        return "(invalid)", "", (item.error or "")[:width]
    text = json.dumps(item.envelope.payload, separators=(",", ":"), default=str)
    if len(text) > width:
        text = text[: width - 3] + "..."
    return item.envelope.type, item.envelope.partition_key, text


def peek_rows(bus: Bus, hub: str, limit: int, width: int = 80) -> list[dict[str, str]]:
    """The newest ``limit`` events of ``hub`` as display rows (partition, offset, time, summary)."""
    admin = cast(BusAdmin, bus)
    if not hasattr(admin, "peek"):
        raise BusError(f"the {bus.kind} bus cannot list events")
    rows = []
    for item in admin.peek(hub, limit):
        kind, key, summary = _summary(item, width)
        rows.append(
            {
                "partition": str(item.partition),
                "offset": item.offset,
                "enqueued_at": item.enqueued_at.isoformat(timespec="milliseconds"),
                "type": kind,
                "key": key,
                "payload": summary,
            }
        )
    return rows
