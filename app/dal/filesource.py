"""Offline vendors ``file`` (a CSV or parquet path) and ``sample`` (the shipped GOOG series).

A file holds one row per bar with columns ``timestamp, open, high, low, close, volume``
(names are matched case-insensitively; an unnamed first column or ``date``/``datetime``/
``time`` is taken as the timestamp). Rows are taken as they are: naive times are read as
UTC and no session filter is applied, so FX or crypto files work too.

``sample`` serves ``app/dal/data/GOOG.csv``: Alphabet daily bars 2004-08-19 .. 2013-03-01
as shipped by backtesting.py's test module. ``file`` without a path serves it as well.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.dal.errors import BadBars, VendorRefused
from app.dal.frames import BAR_COLUMNS, make_bars
from app.dal.ports import BarRequest, Capability, VendorBars
from app.domain.intervals import INTERVALS
from app.errors import InputError

__all__ = ["SAMPLE_PATH", "SAMPLE_SYMBOL", "FileVendor", "SampleVendor", "read_bar_file"]

SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "GOOG.csv"
SAMPLE_SYMBOL = "GOOG"
_TIME_NAMES = ("timestamp", "datetime", "date", "time", "unnamed: 0", "")


def read_bar_file(path: Path, *, vendor: str = "file", symbol: str = "", interval: str = "") -> pd.DataFrame:
    """Read a CSV or parquet bar file into a normalised (sorted, possibly duplicated) frame.

    Raises:
        InputError: the file does not exist or has an unknown suffix.
        BadBars: a column is missing or a value cannot be parsed.
    """
    if not path.is_file():
        raise InputError(f"bar file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            raw = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        else:
            raise InputError(f"bar file must be .csv or .parquet: {path}")
    except (ValueError, OSError) as exc:
        raise BadBars(vendor, symbol, interval, f"cannot read {path}: {exc}") from exc
    if isinstance(raw.index, pd.DatetimeIndex):
        raw = raw.reset_index()
    columns = {str(c).strip().lower(): c for c in raw.columns}
    time_col = next((columns[n] for n in _TIME_NAMES if n in columns), None)
    missing = [c for c in BAR_COLUMNS if c not in columns]
    if time_col is None or missing:
        need = ", ".join((["timestamp"] if time_col is None else []) + missing)
        raise BadBars(vendor, symbol, interval, f"{path} lacks column(s) {need}")
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(raw[time_col], utc=True, format="mixed"))
        values = {c: pd.to_numeric(raw[columns[c]], errors="raise") for c in BAR_COLUMNS}
    except (ValueError, TypeError) as exc:
        raise BadBars(vendor, symbol, interval, f"{path}: {exc}") from exc
    return make_bars(stamps, values["open"], values["high"], values["low"], values["close"], values["volume"])


class FileVendor:
    """Bars from a local CSV or parquet file (the shipped sample when no path is given)."""

    name = "file"
    capabilities = frozenset({Capability.DAILY, Capability.INTRADAY, Capability.OFFLINE})
    intervals = frozenset(INTERVALS)

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        path = request.path or SAMPLE_PATH
        frame = read_bar_file(path, vendor=self.name, symbol=request.symbol, interval=request.interval.name)
        w = request.window
        return VendorBars(frame[(frame.index >= w.start) & (frame.index < w.end)])


class SampleVendor:
    """The shipped real daily sample (GOOG only)."""

    name = "sample"
    capabilities = frozenset({Capability.DAILY, Capability.OFFLINE})
    intervals = frozenset({"1Day"})

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        if request.symbol.upper() != SAMPLE_SYMBOL:
            raise VendorRefused(
                self.name,
                request.symbol,
                request.interval.name,
                f"the shipped sample only holds {SAMPLE_SYMBOL}",
                kind="unknown symbol",
            )
        frame = read_bar_file(SAMPLE_PATH, vendor=self.name, symbol=request.symbol, interval="1Day")
        w = request.window
        return VendorBars(frame[(frame.index >= w.start) & (frame.index < w.end)])
