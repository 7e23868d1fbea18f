"""Bar intervals the DAL understands, and the fetch window built from a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType

import pandas as pd

from app.errors import InputError

__all__ = ["INTERVALS", "NEW_YORK", "Interval", "Window", "build_window", "get_interval"]

NEW_YORK = "America/New_York"


@dataclass(frozen=True, slots=True)
class Interval:
    """One bar size: its DAL name and its length."""

    name: str
    minutes: int

    @property
    def is_daily(self) -> bool:
        return self.minutes >= 1440

    @property
    def delta(self) -> pd.Timedelta:
        return pd.Timedelta(minutes=self.minutes)


INTERVALS: MappingProxyType[str, Interval] = MappingProxyType(
    {
        name: Interval(name, minutes)
        for name, minutes in (
            ("1Min", 1),
            ("5Min", 5),
            ("15Min", 15),
            ("30Min", 30),
            ("1Hour", 60),
            ("1Day", 1440),
        )
    }
)


def get_interval(name: str) -> Interval:
    """Return the :class:`Interval` called ``name``.

    Raises:
        InputError: ``name`` is not one of :data:`INTERVALS`.
    """
    try:
        return INTERVALS[name]
    except KeyError:
        raise InputError(f"unknown interval {name!r}; use one of {', '.join(INTERVALS)}") from None


@dataclass(frozen=True, slots=True)
class Window:
    """The bars a fetch asks for.

    ``start`` is inclusive and ``end`` exclusive, both UTC. For daily bars they are 00:00 UTC
    of the first session date and of the day after the last one, matching how daily bars are
    stamped. ``first_date``/``last_date`` are the inclusive New York calendar dates covered.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    first_date: date
    last_date: date

    def contains(self, index: pd.DatetimeIndex) -> pd.Series:
        return pd.Series((index >= self.start) & (index < self.end), index=index)


def _bound(value: date | datetime, name: str) -> pd.Timestamp | date:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise InputError(f"{name} must be a date or a timezone-aware datetime; got naive {value!r}")
        return pd.Timestamp(value).tz_convert("UTC")
    if isinstance(value, date):
        return value
    raise InputError(f"{name} must be a date or a timezone-aware datetime; got {type(value).__name__}")


def build_window(start: date | datetime, end: date | datetime, interval: Interval) -> Window:
    """Turn inclusive ``start``/``end`` bounds into a :class:`Window`.

    A date bound means the whole New York calendar day. For daily bars a datetime bound is
    reduced to its New York date. For intraday bars a datetime bound is used as it is.

    Raises:
        InputError: a bound is naive or of the wrong type, or ``start`` is after ``end``.
    """
    lo, hi = _bound(start, "start"), _bound(end, "end")
    lo_date = lo.tz_convert(NEW_YORK).date() if isinstance(lo, pd.Timestamp) else lo
    hi_date = hi.tz_convert(NEW_YORK).date() if isinstance(hi, pd.Timestamp) else hi
    if interval.is_daily:
        w_start = pd.Timestamp(lo_date).tz_localize("UTC")
        w_end = pd.Timestamp(hi_date + timedelta(days=1)).tz_localize("UTC")
    else:
        w_start = (
            lo if isinstance(lo, pd.Timestamp) else pd.Timestamp(lo).tz_localize(NEW_YORK).tz_convert("UTC")
        )
        if isinstance(hi, pd.Timestamp):
            w_end = hi + pd.Timedelta(microseconds=1)
        else:
            next_day = pd.Timestamp(hi + timedelta(days=1)).tz_localize(NEW_YORK)
            w_end = next_day.tz_convert("UTC")
    if w_start >= w_end:
        raise InputError(f"start {start} is after end {end}")
    return Window(start=w_start, end=w_end, first_date=lo_date, last_date=hi_date)
