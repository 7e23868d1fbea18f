"""Data-quality checks on a bar frame.

Impossible rows (NaN or non-positive prices, high below open/close, low above open/close,
negative volume) are rejected with :class:`~app.dal.errors.BadBars`. Repairable issues are
fixed and reported: duplicated timestamps (the last row wins) and unsorted rows. Gaps are
measured against the New York Stock Exchange calendar (exchange-calendars ``XNYS``) when the
caller asks for it: missing sessions for daily bars, missing regular-hours slots for intraday.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from app.dal.errors import BadBars
from app.domain.intervals import Interval, Window

__all__ = ["QualityReport", "check_bars", "xnys"]

_PRICE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class QualityReport:
    """What the checks found in one fetch.

    ``missing_sessions`` / ``missing_bars`` count holes between the first and the last bar
    returned; sessions of the window before the first or after the last bar (before a listing,
    or not yet published) are counted in ``missing_at_edges``. ``extra_sessions`` counts daily
    bars on dates the exchange was closed.
    """

    rows: int
    duplicates: int = 0
    unsorted: bool = False
    dropped_empty: int = 0
    calendar: str | None = None
    expected_sessions: int | None = None
    missing_sessions: int | None = None
    missing_at_edges: int | None = None
    extra_sessions: int | None = None
    missing_bars: int | None = None
    missing_dates: tuple[str, ...] = field(default_factory=tuple)

    @property
    def gaps(self) -> int:
        """Missing sessions (daily) or missing regular-hours bars (intraday); 0 if unchecked."""
        if self.missing_bars is not None:
            return self.missing_bars
        return self.missing_sessions or 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["missing_dates"] = list(self.missing_dates)
        out["gaps"] = self.gaps
        return out


@lru_cache(maxsize=1)
def xnys() -> Any:
    """The XNYS exchange calendar (loaded once)."""
    # imported here: exchange_calendars costs ~0.3 s, and a process that checks no session never needs it
    import exchange_calendars as xcals

    # exchange-calendars 4.x reads Series.values, which pandas 3.1 deprecates; harmless here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Series\.values returning", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r"Series\.values returning", category=DeprecationWarning)
        return xcals.get_calendar("XNYS", start="1990-01-01")


def _reject(frame: pd.DataFrame, vendor: str, symbol: str, interval: str) -> None:
    o = frame["open"].to_numpy()
    h = frame["high"].to_numpy()
    lo = frame["low"].to_numpy()
    c = frame["close"].to_numpy()
    v = frame["volume"].to_numpy()
    problems: list[tuple[str, np.ndarray[Any, Any]]] = [
        ("NaN or infinite price", ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c))),
        ("price <= 0", (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)),
        ("high below open/close/low", h < np.maximum(np.maximum(o, c), lo) - _PRICE_TOLERANCE * np.abs(h)),
        ("low above open/close", lo > np.minimum(o, c) + _PRICE_TOLERANCE * np.abs(lo)),
        ("negative or NaN volume", ~(v >= 0)),
    ]
    for what, mask in problems:
        if mask.any():
            bad = frame.index[mask]
            first = bad[0].isoformat()
            raise BadBars(vendor, symbol, interval, f"{int(mask.sum())} row(s) with {what}, first at {first}")


def _sessions(window: Window) -> pd.DatetimeIndex:
    cal = xnys()
    lo = max(pd.Timestamp(window.first_date), cal.first_session)
    hi = min(pd.Timestamp(window.last_date), cal.last_session)
    return pd.DatetimeIndex(cal.sessions_in_range(lo, hi)) if lo <= hi else pd.DatetimeIndex([])


def _daily_gaps(index: pd.DatetimeIndex, window: Window) -> dict[str, Any]:
    sessions = _sessions(window)
    have = pd.DatetimeIndex(index.tz_localize(None).normalize())
    missing = sessions.difference(have)
    held = have.intersection(sessions)
    if len(held):
        interior = missing[(missing > held[0]) & (missing < held[-1])]
        edges = len(missing) - len(interior)
    else:
        interior, edges = missing[:0], len(missing)
    return {
        "calendar": "XNYS",
        "expected_sessions": len(sessions),
        "missing_sessions": len(interior),
        "missing_at_edges": edges,
        "extra_sessions": len(have.difference(sessions)),
        "missing_dates": tuple(d.strftime("%Y-%m-%d") for d in interior[:50]),
    }


def _intraday_gaps(index: pd.DatetimeIndex, window: Window, interval: Interval) -> dict[str, Any]:
    cal = xnys()
    sessions = _sessions(window)
    if len(sessions) == 0:
        return {"calendar": "XNYS", "expected_sessions": 0, "missing_sessions": 0, "missing_bars": 0}
    step = interval.minutes * 60 * 1_000_000_000
    open_ns = pd.DatetimeIndex(cal.opens.loc[sessions]).as_unit("ns").asi8
    close_ns = pd.DatetimeIndex(cal.closes.loc[sessions]).as_unit("ns").asi8
    # buckets of `step` anchored at the open that overlap both the session and the window
    lo = np.maximum(open_ns, window.start.value)
    hi = np.minimum(close_ns, window.end.value)
    expected = np.where(hi > lo, -((open_ns - hi) // step) - (lo - open_ns) // step, 0)
    stamps = index.as_unit("ns").asi8
    slot = np.searchsorted(open_ns, stamps + step, side="left") - 1
    valid = slot >= 0
    overlaps = np.zeros(len(stamps), dtype=bool)
    overlaps[valid] = stamps[valid] < close_ns[slot[valid]]
    present = np.bincount(slot[overlaps], minlength=len(sessions))
    held = expected > 0
    span = np.zeros(len(sessions), dtype=bool)
    if overlaps.any():
        first, last = slot[overlaps].min(), slot[overlaps].max()
        span[first : last + 1] = True
    inside = held & span
    empty = inside & (present == 0)
    return {
        "calendar": "XNYS",
        "expected_sessions": int(held.sum()),
        "missing_sessions": int(empty.sum()),
        "missing_at_edges": int((held & ~span).sum()),
        "missing_bars": int(np.maximum(expected - present, 0)[inside].sum()),
        "missing_dates": tuple(d.strftime("%Y-%m-%d") for d in sessions[empty][:50]),
    }


def check_bars(
    frame: pd.DataFrame,
    *,
    vendor: str,
    symbol: str,
    interval: Interval,
    window: Window | None = None,
    calendar: bool = True,
    dropped_empty: int = 0,
) -> tuple[pd.DataFrame, QualityReport]:
    """Validate ``frame``, repair order and duplicates, and measure calendar gaps.

    Returns:
        The clean frame (sorted, unique) and its :class:`QualityReport`.

    Raises:
        BadBars: a row is impossible (see the module docstring).
    """
    _reject(frame, vendor, symbol, interval.name)
    unsorted = not frame.index.is_monotonic_increasing
    if unsorted:
        frame = frame.sort_index(kind="stable")
    dup_mask = frame.index.duplicated(keep="last")
    duplicates = int(dup_mask.sum())
    if duplicates:
        frame = frame[~dup_mask]
    gaps: dict[str, Any] = {}
    if calendar and window is not None:
        index = pd.DatetimeIndex(frame.index)
        gaps = _daily_gaps(index, window) if interval.is_daily else _intraday_gaps(index, window, interval)
    report = QualityReport(
        rows=len(frame), duplicates=duplicates, unsorted=unsorted, dropped_empty=dropped_empty, **gaps
    )
    return frame, report


def session_date(value: date) -> pd.Timestamp:
    """00:00 UTC of ``value`` (how daily bars are stamped)."""
    return pd.Timestamp(value).tz_localize("UTC")
