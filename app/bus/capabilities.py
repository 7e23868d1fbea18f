"""What a bus backend supports, declared as data so tests and tools can ask instead of guess."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Capability"]


class Capability(StrEnum):
    """Optional behaviours a backend may offer beyond the :class:`~app.bus.ports.Bus` protocol."""

    OFFSETS_ON_PUBLISH = "offsets_on_publish"
    """Publish receipts carry the partition offset the event was stored at."""
    LOCAL_RETENTION = "local_retention"
    """The backend itself deletes events older than the hub's retention (``apply_retention``)."""
    PEEK = "peek"
    """The newest events of a hub can be listed without a consumer group (``peek``)."""
    PARTITION_OWNERSHIP = "partition_ownership"
    """Several consumers of one group share the partitions; each partition has one reader."""
