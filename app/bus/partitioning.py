"""How a partition key picks a partition on backends that partition themselves."""

from __future__ import annotations

import zlib

__all__ = ["partition_for"]


def partition_for(partition_key: str, partitions: int) -> int:
    """Map ``partition_key`` to a partition index, the same on every process and machine.

    CRC-32 is stable across Python runs (unlike ``hash``), so producers in different
    processes agree on where a symbol's events go, which is what keeps them in order.
    """
    if partitions < 1:
        raise ValueError("a hub needs at least one partition")
    return zlib.crc32(partition_key.encode("utf-8")) % partitions
