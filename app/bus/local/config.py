"""Settings of the embedded SQLite bus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalBusConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalBusConfig:
    """Where the log lives and how its consumers share partitions.

    ``lease_s`` is how long a consumer keeps a partition without renewing it; a consumer
    whose process died (checked by PID on this machine) loses its partitions at once.
    ``retention_check_s`` spaces out the deletes of expired events done while publishing.
    """

    path: Path
    lease_s: float = 10.0
    retention_check_s: float = 60.0
    busy_timeout_s: float = 30.0
    idle_sleep_max_s: float = 0.005
