"""The runbook's hubs, partitions, retention and consumer groups, as data."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings

__all__ = ["CONSUMER_GROUPS", "HubSpec", "topology"]

CONSUMER_GROUPS: tuple[str, ...] = ("api", "ui", "orchestrator", "sweeper", "diagnostics")


@dataclass(frozen=True, slots=True)
class HubSpec:
    role: str
    name: str
    partitions: int
    retention_hours: int
    consumer_groups: tuple[str, ...] = CONSUMER_GROUPS


_SHAPE: dict[str, tuple[int, int]] = {
    "bars": (6, 24),
    "signals": (4, 48),
    "regimes": (4, 48),
    "jobs": (2, 72),
    "orders": (2, 24),
}


def topology(settings: Settings) -> list[HubSpec]:
    """The five hubs with names from ``EH_HUB_*``."""
    return [
        HubSpec(role, settings.hubs[role], partitions, retention)
        for role, (partitions, retention) in _SHAPE.items()
    ]
