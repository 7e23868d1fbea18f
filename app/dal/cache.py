"""Parquet cache of normalised bars in a blob container (``trader-data`` by default).

Keys are ``dal/<vendor>/<symbol>/<interval>/<start>_<end>.parquet`` with the fetch window's
UTC bounds (start inclusive, end exclusive), so the same request always maps to the same
object, on a local folder or on Azure Blob alike. Each object records when it was fetched
(``fetched_at`` in the parquet metadata): a window that had not ended by then may have
missed bars, so :meth:`BarCache.get` treats it as a miss once time has moved on.
"""

from __future__ import annotations

import io
import re

import pandas as pd

from app.domain.intervals import Interval, Window
from app.errors import NotFoundError, StorageError
from app.storage.blob import BlobStore

__all__ = ["BarCache"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._=^-]")


class BarCache:
    """Read and write bar frames as parquet objects in one blob container."""

    def __init__(self, store: BlobStore, container: str) -> None:
        self.store = store
        self.container = container

    @staticmethod
    def key(vendor: str, symbol: str, interval: Interval, window: Window) -> str:
        start = window.start.strftime("%Y%m%dT%H%M%S")
        end = window.end.strftime("%Y%m%dT%H%M%S")
        return f"dal/{vendor}/{_UNSAFE.sub('_', symbol)}/{interval.name}/{start}_{end}.parquet"

    def url(self, key: str) -> str:
        return self.store.url(self.container, key)

    def get(self, key: str, window_end: pd.Timestamp | None = None) -> pd.DataFrame | None:
        """Return the cached frame, or ``None`` when there is none or it may be incomplete.

        ``window_end`` (exclusive, UTC): an entry fetched before that time is not complete.
        """
        try:
            data = self.store.get_bytes(self.container, key)
        except NotFoundError:
            return None
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:
            raise StorageError(f"cached bars {self.container}/{key} are unreadable: {exc}") from exc
        fetched_at = frame.attrs.pop("fetched_at", None)
        if window_end is not None and (fetched_at is None or pd.Timestamp(fetched_at) < window_end):
            return None
        frame.index = pd.DatetimeIndex(frame.index, name="timestamp").as_unit("ns")
        return frame

    def put(self, key: str, frame: pd.DataFrame) -> str:
        """Store ``frame`` under ``key`` and return its URL."""
        buffer = io.BytesIO()
        stored = frame.copy(deep=False)
        stored.attrs = {"fetched_at": pd.Timestamp.now(tz="UTC").isoformat()}
        stored.to_parquet(buffer, engine="pyarrow", index=True)
        self.store.put_bytes(self.container, key, buffer.getvalue())
        return self.url(key)
