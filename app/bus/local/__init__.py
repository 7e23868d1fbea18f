"""The embedded bus: a durable partitioned log in one SQLite file (WAL), safe across processes."""

from app.bus.local.client import LocalBus, LocalConsumer
from app.bus.local.config import LocalBusConfig

__all__ = ["LocalBus", "LocalBusConfig", "LocalConsumer"]
