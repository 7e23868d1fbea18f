"""The service container: one place that builds the platform's long-lived clients.

Edges (API, CLI, workers) build one :class:`Services` from :class:`~app.config.Settings`
and pass it down; clients are created lazily on first use, never at import.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from app.bus.factory import create_bus
from app.bus.ports import Bus
from app.config import Settings
from app.storage.blob import BlobStore
from app.storage.db import Database

__all__ = ["ReadinessCheck", "Services"]

ReadinessCheck = Callable[[], None]
"""A callable that returns when a dependency answers and raises (with the reason) when not."""


class Services:
    """Long-lived clients for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._extra_checks: dict[str, ReadinessCheck] = {}

    @cached_property
    def db(self) -> Database:
        return Database.from_settings(self.settings)

    @cached_property
    def blob(self) -> BlobStore:
        return BlobStore.from_settings(self.settings)

    @cached_property
    def bus(self) -> Bus:
        """The configured event bus (local log, Redis Streams or Event Hubs)."""
        return create_bus(self.settings)

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """Register another dependency for ``/health/ready`` (the bus, a consumer's lag ...)."""
        self._extra_checks[name] = check

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {
            "database": lambda: self.db.check_ready(),
            "blob": lambda: self.blob.ping(self.settings.BLOB_CONTAINER_DATA),
            "bus": lambda: self.bus.ping(),
        }
        checks.update(self._extra_checks)
        return checks

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
        if "bus" in self.__dict__:
            self.bus.close()
