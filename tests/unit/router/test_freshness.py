"""Completed bars and staleness on the XNYS session calendar, at controlled times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from app.domain.intervals import get_interval
from app.errors import InputError
from app.router.freshness import bar_end, complete_bars, freshness, market_time_between

DAY = get_interval("1Day")
FIVE = get_interval("5Min")


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_daily_bar_ends_at_its_session_close_early_closes_included() -> None:
    assert bar_end(_utc(2025, 1, 3), DAY) == _utc(2025, 1, 3, 21, 0)  # 16:00 New York in winter
    assert bar_end(_utc(2025, 7, 3), DAY) == _utc(2025, 7, 3, 17, 0)  # early close 13:00 EDT
    assert bar_end(_utc(2025, 1, 4), DAY) == _utc(2025, 1, 4, 21, 0)  # a Saturday: 16:00 by convention
    assert bar_end(_utc(2025, 1, 3, 14, 30), FIVE) == _utc(2025, 1, 3, 14, 35)


def test_session_time_skips_nights_weekends_and_holidays() -> None:
    friday_close, monday_open = _utc(2025, 1, 3, 21, 0), _utc(2025, 1, 6, 14, 30)
    assert market_time_between(friday_close, monday_open) == timedelta(0)
    assert market_time_between(friday_close, monday_open + timedelta(minutes=20)) == timedelta(minutes=20)
    # New Year's Day 2025 is a holiday: Dec 31 close to Jan 2 open is no session time
    assert market_time_between(_utc(2024, 12, 31, 21, 0), _utc(2025, 1, 2, 14, 30)) == timedelta(0)
    assert market_time_between(monday_open, friday_close) == timedelta(0)


def test_friday_daily_bar_is_fresh_on_monday_morning_and_a_three_session_old_one_is_not() -> None:
    monday_morning = _utc(2025, 1, 6, 13, 0)  # 08:00 New York, before the open
    assert not freshness(_utc(2025, 1, 3), DAY, monday_morning, 600).stale
    monday_noon = _utc(2025, 1, 6, 17, 0)
    assert not freshness(_utc(2025, 1, 3), DAY, monday_noon, 600).stale
    # Thursday Jan 2's bar with Friday's session gone by, Monday before the open: one session
    # plus nothing is within the allowance; Monday after the open plus the tolerance is not
    assert not freshness(_utc(2025, 1, 2), DAY, monday_morning, 600).stale
    assert freshness(_utc(2025, 1, 2), DAY, _utc(2025, 1, 6, 14, 45), 600).stale
    # three sessions old
    old = freshness(_utc(2024, 12, 31), DAY, monday_morning, 600)
    assert old.stale and old.market_age == timedelta(hours=13) and "allowed" in old.describe()


def test_intraday_bars_are_stale_after_one_interval_plus_tolerance_of_session_time() -> None:
    bar = _utc(2025, 1, 6, 15, 0)  # 10:00-10:05 New York, ended 10:05
    assert not freshness(bar, FIVE, _utc(2025, 1, 6, 15, 12), 120).stale  # 7 min
    assert freshness(bar, FIVE, _utc(2025, 1, 6, 15, 13), 120).stale  # 8 min
    closing = _utc(2025, 1, 6, 20, 55)  # the last bar of the session
    assert not freshness(closing, FIVE, _utc(2025, 1, 7, 14, 31), 120).stale  # overnight is not counted


def test_a_forming_bar_is_not_complete() -> None:
    index = pd.DatetimeIndex([_utc(2025, 1, 2), _utc(2025, 1, 3), _utc(2025, 1, 6)])
    bars = pd.DataFrame({"close": [1.0, 2.0, 3.0]}, index=index)
    assert list(complete_bars(bars, DAY, _utc(2025, 1, 6, 17, 0)).index) == list(index[:2])
    assert len(complete_bars(bars, DAY, _utc(2025, 1, 6, 21, 0))) == 3
    assert len(complete_bars(bars, DAY, _utc(2025, 1, 2, 12, 0))) == 0


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        freshness(_utc(2025, 1, 3), DAY, datetime(2025, 1, 6, 13, 0), 600)
