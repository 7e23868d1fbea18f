"""Offline vendor ``replay``: recorded bars served as if the market were live at a controlled time.

A recording is a directory (``REPLAY_DIR``) with one file per interval and symbol::

    <REPLAY_DIR>/5Min/AAPL.parquet      # or AAPL.csv; columns as for the ``file`` vendor
    <REPLAY_DIR>/1Day/AAPL.parquet

The vendor answers a fetch with the recorded bars of the window that are *complete* at the
clock's now, so nothing after "now" ever leaks into a decision:

* an intraday bar stamped ``t`` (its start) is served once ``t + interval <= now``;
* a daily bar (stamped 00:00 UTC of its session date) is served once that session closed on
  the XNYS calendar (early closes included); a bar on a date without a session, once the date
  is over in New York.

The clock is the platform's (:func:`app.domain.clock.build_clock`, wired by
``app.bootstrap.build_vendor``): the wall clock by default, the replayed ``REPLAY_CLOCK_FILE``
in a replayed day. Files are re-read when they change.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from app.dal.errors import UnsupportedInterval, VendorRefused
from app.dal.filesource import read_bar_file
from app.dal.frames import BAR_COLUMNS
from app.dal.ports import BarRequest, Capability, VendorBars
from app.domain.clock import Clock, wall_clock
from app.domain.intervals import INTERVALS, NEW_YORK, Interval
from app.errors import ConfigError

__all__ = ["SUFFIXES", "ReplayVendor", "recording_path", "write_recording"]

SUFFIXES: tuple[str, ...] = (".parquet", ".csv")
_ZONE = ZoneInfo(NEW_YORK)


def recording_path(root: Path, symbol: str, interval: str, suffix: str = ".parquet") -> Path:
    """Where the bars of ``symbol`` at ``interval`` are recorded under ``root``."""
    return root / interval / f"{symbol.upper()}{suffix}"


def write_recording(root: Path, symbol: str, interval: str, bars: pd.DataFrame) -> Path:
    """Store a normalised bar frame as the recording of ``symbol`` at ``interval`` (parquet).

    Raises:
        ConfigError: ``interval`` is not a DAL interval, or the frame lacks a bar column.
    """
    if interval not in INTERVALS:
        raise ConfigError(f"unknown interval {interval!r}; use one of {', '.join(INTERVALS)}")
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ConfigError(f"bars for {symbol} lack column(s) {', '.join(missing)}")
    path = recording_path(root, symbol, interval)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = bars.loc[:, list(BAR_COLUMNS)].copy()
    frame.index = pd.DatetimeIndex(frame.index, name="timestamp")
    frame.to_parquet(path)
    return path


def _daily_complete_at(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """When each daily bar (00:00 UTC of its date) is complete: its XNYS close, or the date's end."""
    from app.dal.quality import xnys

    calendar = xnys()
    closes: list[pd.Timestamp] = []
    for stamp in days:
        day = stamp.date()
        label = pd.Timestamp(day)
        if calendar.is_session(label):
            closes.append(pd.Timestamp(calendar.session_close(label)).tz_convert("UTC"))
        else:
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=_ZONE)
            closes.append(pd.Timestamp(midnight).tz_convert("UTC"))
    return pd.DatetimeIndex(closes)


class ReplayVendor:
    """Recorded bars up to the clock's now (see the module docstring)."""

    name = "replay"
    capabilities = frozenset({Capability.DAILY, Capability.INTRADAY, Capability.OFFLINE})
    intervals = frozenset(INTERVALS)

    def __init__(self, root: Path, clock: Clock = wall_clock) -> None:
        self.root = root
        self.clock = clock
        self._lock = threading.Lock()
        self._frames: dict[Path, tuple[int, pd.DataFrame]] = {}

    def _path(self, symbol: str, interval: Interval) -> Path:
        for suffix in SUFFIXES:
            path = recording_path(self.root, symbol, interval.name, suffix)
            if path.is_file():
                return path
        recorded = sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name in INTERVALS)
        if not recorded:
            raise VendorRefused(self.name, symbol, interval.name, f"{self.root} holds no recording")
        if interval.name not in recorded:
            raise UnsupportedInterval(
                self.name, symbol, interval.name, f"not recorded; recorded: {', '.join(recorded)}"
            )
        raise VendorRefused(
            self.name,
            symbol,
            interval.name,
            f"no {interval.name} recording of {symbol.upper()} in {self.root}",
            kind="unknown symbol",
        )

    def _frame(self, path: Path, symbol: str, interval: Interval) -> pd.DataFrame:
        stamp = path.stat().st_mtime_ns
        with self._lock:
            known = self._frames.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        frame = read_bar_file(path, vendor=self.name, symbol=symbol, interval=interval.name)
        if interval.is_daily:
            frame = frame.assign(_complete=_daily_complete_at(pd.DatetimeIndex(frame.index)))
        else:
            frame = frame.assign(_complete=pd.DatetimeIndex(frame.index) + interval.delta)
        with self._lock:
            self._frames[path] = (stamp, frame)
        return frame

    def now(self) -> datetime:
        """The clock's time the vendor serves up to."""
        return self.clock()

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        symbol = request.symbol.upper()
        path = self._path(symbol, request.interval)
        frame = self._frame(path, symbol, request.interval)
        now = pd.Timestamp(self.now()).tz_convert("UTC")
        w = request.window
        keep = (frame.index >= w.start) & (frame.index < w.end) & (frame["_complete"] <= now)
        return VendorBars(frame.loc[keep, list(BAR_COLUMNS)])

    def sessions(self, symbol: str, interval: str = "5Min") -> list[date]:
        """The New York dates the recording of ``symbol`` at ``interval`` covers (whole file)."""
        spec = INTERVALS[interval]
        frame = self._frame(self._path(symbol.upper(), spec), symbol.upper(), spec)
        return sorted({stamp.date() for stamp in pd.DatetimeIndex(frame.index).tz_convert(NEW_YORK)})
