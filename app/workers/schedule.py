"""The daily schedule's definition: each job placed relative to the NYSE session it serves.

The runbook's table reads as exchange times: 04:00 is when premarket trading opens, 09:30 the
regular open, 16:05 just after the 16:00 close. So every job is an offset from the XNYS
session's open or close (exchange-calendars), which keeps it right across daylight-saving
changes and on early-close days. On a regular session the times are the runbook's, in New
York time:

==========================  =====================  ========
job                         anchor                 New York
==========================  =====================  ========
startup_check               open - 5 h 32 min      03:58
premarket_scan              open - 5 h 30 min      04:00
finalize_watchlist          open - 3 h 15 min      06:15
warm_up                     open - 5 min           09:25
intraday_refresh_0935       open + 5 min           09:35
intraday_refresh_1130       open + 2 h             11:30
intraday_refresh_1330       open + 4 h             13:30
after_hours_scan            close + 5 min          16:05
retrain                     close + 1 h 30 min     17:30
reports                     close + 2 h            18:00
==========================  =====================  ========

An intraday refresh that would fall at or after the session's close (the 13:30 refresh on a
13:00 early close) is not run: it is yielded with a ``skip_reason`` so the scheduler records
the skip. Days without a session (weekends, holidays) have no jobs at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.config import Settings
from app.dal.quality import xnys
from app.errors import InputError

__all__ = [
    "EXCHANGE_ZONE",
    "JOBS_BY_NAME",
    "SCHEDULE",
    "Anchor",
    "Occurrence",
    "ScheduledJob",
    "is_session",
    "occurrences",
    "session_hours",
]

EXCHANGE_ZONE = ZoneInfo("America/New_York")
"""The exchange's clock (XNYS)."""

_REGULAR_OPEN = time(9, 30)
_REGULAR_CLOSE = time(16, 0)


class Anchor(StrEnum):
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job due at ``offset`` from its session's open or close.

    ``intraday`` jobs must fall before the session's close; otherwise they are skipped.
    """

    name: str
    anchor: Anchor
    offset: timedelta
    description: str
    enabled: Callable[[Settings], bool] = lambda _settings: True
    intraday: bool = False

    @property
    def regular_time(self) -> time:
        """New York wall-clock time on a regular (09:30-16:00) session."""
        base = _REGULAR_OPEN if self.anchor is Anchor.OPEN else _REGULAR_CLOSE
        return (datetime.combine(date(2000, 1, 3), base) + self.offset).time()

    @property
    def relative(self) -> str:
        """The anchor as text, e.g. ``open - 5:30`` or ``close + 0:05``."""
        minutes = int(abs(self.offset).total_seconds() // 60)
        sign = "-" if self.offset < timedelta(0) else "+"
        return f"{self.anchor} {sign} {minutes // 60}:{minutes % 60:02d}"


def _at(hours: int = 0, minutes: int = 0) -> timedelta:
    return timedelta(hours=hours, minutes=minutes)


_REFRESH = "Intraday refresh: route the watchlist"

SCHEDULE: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "startup_check", Anchor.OPEN, -_at(5, 32), "Confirm the platform answers (database, blob, bus)"
    ),
    ScheduledJob("premarket_scan", Anchor.OPEN, -_at(5, 30), "Premarket scan: rough watchlist"),
    ScheduledJob("finalize_watchlist", Anchor.OPEN, -_at(3, 15), "Finalize the opening watchlist"),
    ScheduledJob("warm_up", Anchor.OPEN, -_at(0, 5), "Warm up compiled kernels and caches before the open"),
    ScheduledJob("intraday_refresh_0935", Anchor.OPEN, _at(0, 5), _REFRESH, intraday=True),
    ScheduledJob("intraday_refresh_1130", Anchor.OPEN, _at(2), _REFRESH, intraday=True),
    ScheduledJob("intraday_refresh_1330", Anchor.OPEN, _at(4), _REFRESH, intraday=True),
    ScheduledJob("after_hours_scan", Anchor.CLOSE, _at(0, 5), "After-hours scan"),
    ScheduledJob(
        "retrain",
        Anchor.CLOSE,
        _at(1, 30),
        "Retrain: run the configured sweep",
        lambda s: s.SCHEDULE_RETRAIN_CONFIG is not None,
    ),
    ScheduledJob("reports", Anchor.CLOSE, _at(2), "Daily report: orders, fills, kill-switch trips, sweeps"),
)
JOBS_BY_NAME = {job.name: job for job in SCHEDULE}


def is_session(day: date) -> bool:
    """True when NYSE trades on ``day``.

    Raises:
        InputError: ``day`` is outside the exchange calendar's range.
    """
    calendar = xnys()
    stamp = day.isoformat()
    if stamp < str(calendar.first_session.date()) or stamp > str(calendar.last_session.date()):
        raise InputError(f"{day} is outside the exchange calendar's range")
    return bool(calendar.is_session(stamp))


@lru_cache(maxsize=512)
def session_hours(day: date) -> tuple[datetime, datetime]:
    """Open and close of the session on ``day`` (aware, New York time).

    Raises:
        InputError: NYSE does not trade on ``day``.
    """
    if not is_session(day):
        raise InputError(f"{day} is not an NYSE session")
    calendar = xnys()
    stamp = day.isoformat()
    open_at = calendar.session_open(stamp).to_pydatetime().astimezone(EXCHANGE_ZONE)
    close_at = calendar.session_close(stamp).to_pydatetime().astimezone(EXCHANGE_ZONE)
    return open_at, close_at


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One job on one session; ``skip_reason`` says why it is recorded instead of run."""

    job: ScheduledJob
    session: date
    due: datetime  # timezone-aware, New York time
    skip_reason: str | None = None

    @property
    def key(self) -> str:
        return f"{self.session.isoformat()}/{self.job.name}"


def _occurrence(job: ScheduledJob, day: date) -> Occurrence:
    open_at, close_at = session_hours(day)
    due = (open_at if job.anchor is Anchor.OPEN else close_at) + job.offset
    skip = None
    if job.intraday and due >= close_at:
        skip = f"after the {close_at.strftime('%H:%M')} ET early close"
    return Occurrence(job, day, due, skip)


def occurrences(settings: Settings, start: datetime, days: int = 14) -> Iterator[Occurrence]:
    """Enabled jobs due at or after ``start``, in time order, over the next ``days`` days.

    Raises:
        InputError: ``start`` is naive.
    """
    if start.tzinfo is None:
        raise InputError("start: must be timezone-aware")
    first = start.astimezone(EXCHANGE_ZONE).date()
    for offset in range(days + 1):
        day = first + timedelta(days=offset)
        if not is_session(day):
            continue
        due = sorted(
            (_occurrence(job, day) for job in SCHEDULE if job.enabled(settings)), key=lambda o: o.due
        )
        yield from (o for o in due if o.due >= start)
