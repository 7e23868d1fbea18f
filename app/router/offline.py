"""An in-process memo of synthetic bars for offline runs.

Synthetic bars are a pure function of symbol, interval and window (see
:mod:`app.dal.synthetic`), so repeated offline runs over the same window reuse one frame
instead of regenerating and re-checking it. Vendor bars are not memoised here; they go
through the DAL's own cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from app.dal import FetchResult, MarketData, build_window
from app.dal.intervals import get_interval

__all__ = ["OfflineBars"]


class OfflineBars:
    """Least-recently-used memo of synthetic fetches (frames are shared: callers must not mutate them)."""

    def __init__(self, market_data: MarketData, max_entries: int = 64) -> None:
        self._market_data = market_data
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str, str, str], FetchResult] = OrderedDict()
        self._lock = threading.Lock()

    def fetch(self, symbol: str, start: datetime, end: datetime, interval: str) -> FetchResult:
        window = build_window(start, end, get_interval(interval))
        key = (symbol, interval, window.start.isoformat(), window.end.isoformat())
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        result = self._market_data.fetch(
            "synthetic", symbol, start, end, interval=interval, use_cache=False, write_cache=False
        )
        with self._lock:
            self._entries[key] = result
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return result
