"""The normalised bar frame every vendor returns.

A bar frame has a UTC, timezone-aware :class:`~pandas.DatetimeIndex` named ``timestamp``
and float64 columns ``open``, ``high``, ``low``, ``close``, ``volume``; it is sorted and
unique. Daily bars are stamped 00:00 UTC of their session date, intraday bars at their start.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "BAR_COLUMNS",
    "empty_bars",
    "float32_decimals",
    "make_bars",
    "session_dates_to_utc",
    "utc_midnight_of_local_date",
]

BAR_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

FloatArray = npt.NDArray[np.float64]


def _index(stamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    values = stamps.as_unit("ns").asi8.view("datetime64[ns]")
    return pd.DatetimeIndex(values, name="timestamp").tz_localize("UTC")


def empty_bars() -> pd.DataFrame:
    """Return a bar frame with no rows."""
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return pd.DataFrame({c: np.array([], dtype=np.float64) for c in BAR_COLUMNS}, index=index)


def make_bars(
    stamps: pd.DatetimeIndex | Sequence[pd.Timestamp],
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
) -> pd.DataFrame:
    """Build a bar frame from parallel arrays; naive stamps are read as UTC.

    Rows are returned sorted by time. Duplicated stamps are kept (quality checks report them).
    """
    index = _index(pd.DatetimeIndex(list(stamps) if not isinstance(stamps, pd.DatetimeIndex) else stamps))
    frame = pd.DataFrame(
        {
            "open": np.asarray(open_, dtype=np.float64),
            "high": np.asarray(high, dtype=np.float64),
            "low": np.asarray(low, dtype=np.float64),
            "close": np.asarray(close, dtype=np.float64),
            "volume": np.asarray(volume, dtype=np.float64),
        },
        index=index,
    )
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    return frame


def session_dates_to_utc(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Stamp session dates (any time of day, any zone) at 00:00 UTC of that date."""
    local = dates.tz_localize(None) if dates.tz is not None else dates
    return local.normalize().tz_localize("UTC")


def float32_decimals(values: npt.ArrayLike) -> FloatArray:
    """Undo float32 rounding: the shortest decimal that maps to the same float32.

    Yahoo and Twelve Data store prices as float32, so 125.07 arrives as 125.06999969482422
    or "125.06999"; both come back as 125.07 here.
    """
    as32 = np.asarray(values, dtype=np.float64).astype(np.float32)
    return np.asarray(as32.astype(str), dtype=np.float64)


def utc_midnight_of_local_date(stamps: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """00:00 UTC of each stamp's calendar date in ``tz`` (daily bar stamping)."""
    local = stamps.tz_convert(tz) if stamps.tz is not None else stamps.tz_localize("UTC").tz_convert(tz)
    return local.tz_localize(None).normalize().tz_localize("UTC")
