"""An in-process memo of synthetic bars for offline runs.

Synthetic bars are a pure function of symbol, interval and window (see
:mod:`app.dal.synthetic`), so repeated offline runs over the same window reuse one frame
instead of regenerating and re-checking it. Vendor bars are not memoised here; they go
through the DAL's own cache.

The key is the window of *completed* bars: an open-ended window ("until now") ends at the
close of the last completed bar, so every run within one bar interval hits the same entry.
The memo is bounded by the bytes its frames hold, not by a count.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from app.dal import FetchResult, MarketData, build_window
from app.domain.intervals import get_interval

__all__ = ["OfflineBars", "completed_end"]

DEFAULT_MAX_BYTES = 64_000_000


def completed_end(end: datetime, minutes: int) -> datetime:
    """The last instant before the bar that contains ``end`` started (intraday intervals).

    Daily and longer windows are already keyed by their calendar day and are returned as-is.
    """
    if minutes >= 1440:
        return end
    aware = end if end.tzinfo is not None else end.replace(tzinfo=UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=minutes)
    bar_start = epoch + ((aware - epoch) // step) * step
    return bar_start - timedelta(microseconds=1)


class OfflineBars:
    """Least-recently-used memo of synthetic fetches (frames are shared: callers must not mutate them)."""

    def __init__(self, market_data: MarketData, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._market_data = market_data
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str, str, str], tuple[FetchResult, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes_held(self) -> int:
        """Bytes the memo's frames hold now (never above ``max_bytes``)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def fetch(self, symbol: str, start: datetime, end: datetime, interval: str) -> FetchResult:
        minutes = get_interval(interval).minutes
        end = max(completed_end(end, minutes), start)
        window = build_window(start, end, get_interval(interval))
        key = (symbol, interval, window.start.isoformat(), window.end.isoformat())
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit[0]
        result = self._market_data.fetch(
            "synthetic", symbol, start, end, interval=interval, use_cache=False, write_cache=False
        )
        size = int(result.bars.memory_usage(index=True, deep=False).sum())
        if size > self._max_bytes:
            return result  # larger than the whole memo: served, never kept
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (result, size)
                self._bytes += size
            while self._bytes > self._max_bytes and self._entries:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
        return result
