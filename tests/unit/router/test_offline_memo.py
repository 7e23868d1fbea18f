"""Issue 16: the router's offline bar memo hits for open-ended windows and is bounded by bytes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import Settings
from app.dal import FetchResult, MarketData
from app.router.offline import OfflineBars, completed_end


class CountingMarketData(MarketData):
    """The real DAL, counting how often the memo had to build bars."""

    calls = 0

    def fetch(self, *args: Any, **kwargs: Any) -> FetchResult:
        self.calls += 1
        return super().fetch(*args, **kwargs)


def test_completed_end_is_the_close_of_the_last_completed_bar() -> None:
    now = datetime(2026, 3, 2, 15, 7, 42, tzinfo=UTC)
    assert completed_end(now, 5) == datetime(2026, 3, 2, 15, 4, 59, 999999, tzinfo=UTC)
    assert completed_end(now, 1440) == now


def test_runs_within_one_bar_hit_the_same_entry(make_settings: Callable[..., Settings]) -> None:
    market = CountingMarketData(make_settings(), None)
    memo = OfflineBars(market)
    start = datetime(2026, 2, 2, tzinfo=UTC)
    first_now = datetime(2026, 2, 27, 15, 5, 1, tzinfo=UTC)
    one = memo.fetch("AAPL", start, first_now, "5Min")
    two = memo.fetch("AAPL", start, first_now + timedelta(seconds=250), "5Min")
    assert market.calls == 1 and one is two
    assert one.bars.index[-1] < datetime(2026, 2, 27, 15, 5, tzinfo=UTC)  # the open bar is left out
    memo.fetch("AAPL", start, first_now + timedelta(minutes=5), "5Min")
    assert market.calls == 2


def test_the_memo_is_bounded_by_bytes(make_settings: Callable[..., Settings]) -> None:
    market = CountingMarketData(make_settings(), None)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    end = datetime(2026, 2, 27, 20, 0, tzinfo=UTC)
    size = int(OfflineBars(market).fetch("AAPL", start, end, "1Min").bars.memory_usage(index=True).sum())
    memo = OfflineBars(market, max_bytes=int(size * 2.5))
    for symbol in ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG"):
        memo.fetch(symbol, start, end, "1Min")
        assert memo.bytes_held <= size * 2.5
    assert len(memo) == 2
    tiny = OfflineBars(market, max_bytes=1024)
    tiny.fetch("AAPL", start, end, "1Min")
    assert len(tiny) == 0 and tiny.bytes_held == 0
