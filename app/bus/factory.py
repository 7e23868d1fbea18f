"""Build the configured bus backend; heavy client libraries are imported only here, on demand."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from app.bus.ports import Bus
from app.bus.topology import topology
from app.config import Settings
from app.errors import ConfigError

__all__ = ["create_bus", "local_bus_path"]


def local_bus_path(settings: Settings) -> Path:
    """The SQLite file of the embedded bus: ``BUS_URL=local:///path`` or ``DATA_DIR/bus.db``."""
    if settings.BUS_URL is not None and settings.BUS_URL.startswith("local:"):
        parts = urlsplit(settings.BUS_URL)
        raw = f"{parts.netloc}{parts.path}"
        if raw:
            return Path(raw)
    return settings.DATA_DIR / "bus.db"


def create_bus(settings: Settings) -> Bus:
    """Return the bus ``settings.bus_backend`` resolved to (see ``ai-trader config show``).

    Raises:
        ConfigError: the backend's settings are incomplete or its client library is missing.
    """
    hubs = topology(settings)
    kind = settings.bus_backend.kind
    if kind == "local":
        from app.bus.local import LocalBus, LocalBusConfig

        return LocalBus(LocalBusConfig(path=local_bus_path(settings), lease_s=settings.BUS_LEASE_S), hubs)
    if kind == "redis":
        from app.bus.redis import RedisBus, RedisBusConfig

        return RedisBus(RedisBusConfig.from_settings(settings), hubs)
    if kind == "eventhubs":
        try:
            from app.bus.eventhubs import EventHubsBus, EventHubsConfig
        except ImportError as exc:
            raise ConfigError(
                "the eventhubs bus needs the azure extra: pip install 'ai-trader[azure]'"
            ) from exc
        from app.storage.blob import BlobStore

        return EventHubsBus(EventHubsConfig.from_settings(settings), hubs, BlobStore.from_settings(settings))
    raise ConfigError(f"unknown bus backend {kind!r}")
