"""Where the embedded bus keeps its log; the backends themselves are built in ``app.bootstrap``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from app.config import Settings

__all__ = ["local_bus_path"]


def local_bus_path(settings: Settings) -> Path:
    """The SQLite file of the embedded bus: ``BUS_URL=local:///path`` or ``DATA_DIR/bus.db``."""
    if settings.BUS_URL is not None and settings.BUS_URL.startswith("local:"):
        parts = urlsplit(settings.BUS_URL)
        raw = f"{parts.netloc}{parts.path}"
        if raw:
            return Path(raw)
    return settings.DATA_DIR / "bus.db"
