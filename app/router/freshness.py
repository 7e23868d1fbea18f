"""Which bars are complete, and whether the newest one is too old to trade on (target mode).

Both are judged on the NYSE (XNYS) session calendar against the run's clock:

* a bar is *complete* once it has ended: an intraday bar at ``start + interval``, a daily bar
  at its session's close (its date's 16:00 New York when that date is not a session);
* the newest complete bar is *stale* when more than one bar interval plus a tolerance of
  regular-session time has passed since it ended. Time outside regular sessions (nights,
  weekends, holidays) does not count, so a daily bar of a Friday is still the newest one on
  Monday before the open, and a 5-minute bar of the close stays fresh overnight. A daily bar
  counts as one full regular session (6 h 30 min).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from app.dal.quality import xnys
from app.domain.intervals import NEW_YORK, Interval
from app.errors import InputError

__all__ = ["DAILY_SESSION", "Freshness", "bar_end", "complete_bars", "freshness", "market_time_between"]

DAILY_SESSION = timedelta(hours=6, minutes=30)
"""How much regular-session time one daily bar stands for."""

_NEW_YORK = ZoneInfo(NEW_YORK)


@dataclass(frozen=True, slots=True)
class Freshness:
    """The newest complete bar's end, the session time since then and the allowance."""

    bar_end: datetime
    market_age: timedelta
    allowed: timedelta

    @property
    def stale(self) -> bool:
        return self.market_age > self.allowed

    def describe(self) -> str:
        return (
            f"newest bar ended {self.bar_end.isoformat()}: {self.market_age.total_seconds():.0f} s of "
            f"NYSE session time ago, allowed {self.allowed.total_seconds():.0f} s"
        )


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise InputError("the router's clock must return a timezone-aware time")
    return value.astimezone(UTC)


def bar_end(timestamp: datetime, interval: Interval) -> datetime:
    """When the bar stamped ``timestamp`` ended (see the module docstring)."""
    stamp = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
    if not interval.is_daily:
        return stamp.astimezone(UTC) + timedelta(minutes=interval.minutes)
    # daily bars are stamped at their date's midnight (UTC or New York): the UTC date is the day
    day = stamp.astimezone(UTC).date()
    session = pd.Timestamp(day)
    calendar = xnys()
    if calendar.is_session(session):
        close: pd.Timestamp = calendar.session_close(session)
        ended: datetime = close.to_pydatetime()
        return ended.astimezone(UTC)
    return datetime.combine(day, time(16), tzinfo=_NEW_YORK).astimezone(UTC)


def complete_bars(bars: pd.DataFrame, interval: Interval, now: datetime) -> pd.DataFrame:
    """``bars`` without the trailing bars that had not ended at ``now`` (a forming bar)."""
    now = _aware(now)
    keep = len(bars)
    while keep > 0:
        stamp = pd.Timestamp(bars.index[keep - 1]).to_pydatetime()
        if bar_end(stamp, interval) <= now:
            break
        keep -= 1
    return bars if keep == len(bars) else bars.iloc[:keep]


def market_time_between(start: datetime, end: datetime) -> timedelta:
    """Regular-session time of XNYS between ``start`` and ``end`` (zero when ``end <= start``)."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        return timedelta(0)
    calendar = xnys()
    first = pd.Timestamp(start.date()) - pd.Timedelta(days=1)
    last = pd.Timestamp(end.date()) + pd.Timedelta(days=1)
    first = max(first, calendar.first_session)
    last = min(last, calendar.last_session)
    if first > last:
        raise InputError(f"{start.date()}..{end.date()} is outside the XNYS calendar the router knows")
    schedule = calendar.schedule.loc[first:last]
    total = timedelta(0)
    for opened, closed in zip(schedule["open"], schedule["close"], strict=True):
        lo = max(opened.to_pydatetime(), start)
        hi = min(closed.to_pydatetime(), end)
        if hi > lo:
            total += hi - lo
    return total


def freshness(last_bar: datetime, interval: Interval, now: datetime, tolerance_s: float) -> Freshness:
    """How old the newest complete bar (stamped ``last_bar``) is at ``now``, in session time."""
    ended = bar_end(last_bar, interval)
    step = DAILY_SESSION if interval.is_daily else timedelta(minutes=interval.minutes)
    return Freshness(
        bar_end=ended,
        market_age=market_time_between(ended, _aware(now)),
        allowed=step + timedelta(seconds=tolerance_s),
    )
