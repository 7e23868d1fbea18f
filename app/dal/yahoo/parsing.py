"""Yahoo chart result to the normalised frame.

Daily timestamps are the 09:30 New York session open in epoch seconds (the last one may be
the latest trade time), so a daily bar's date is its date in ``exchangeTimezoneName``.
Prices are float32 values printed as doubles and are restored to their short decimals.
Rows whose prices are null (no trade in that slot) are dropped and counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.dal.errors import BadBars
from app.dal.frames import empty_bars, float32_decimals, make_bars, utc_midnight_of_local_date
from app.dal.http import Route
from app.dal.yahoo.schemas import ChartResult
from app.domain.intervals import Interval

__all__ = ["parse_chart"]


def _column(values: list[float | None], n: int, name: str, route: Route) -> np.ndarray:
    if len(values) != n:
        raise BadBars(
            route.vendor, route.symbol, route.interval, f"{name} has {len(values)} values for {n} timestamps"
        )
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def parse_chart(result: ChartResult, interval: Interval, route: Route) -> tuple[pd.DataFrame, int]:
    """Return the normalised frame and the number of null rows dropped."""
    stamps_raw = result.timestamp or []
    if not stamps_raw:
        return empty_bars(), 0
    if not result.indicators.quote:
        raise BadBars(route.vendor, route.symbol, route.interval, "timestamps without indicators.quote")
    quote = result.indicators.quote[0]
    n = len(stamps_raw)
    o = _column(quote.open, n, "open", route)
    h = _column(quote.high, n, "high", route)
    lo = _column(quote.low, n, "low", route)
    c = _column(quote.close, n, "close", route)
    v = _column(quote.volume, n, "volume", route)
    keep = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
    dropped = int((~keep).sum())
    stamps = pd.DatetimeIndex(
        pd.to_datetime(np.asarray(stamps_raw, dtype=np.int64)[keep], unit="s", utc=True)
    )
    if interval.is_daily:
        stamps = utc_midnight_of_local_date(stamps, result.meta.exchangeTimezoneName)
    volume = np.nan_to_num(v[keep], nan=0.0)
    frame = make_bars(
        stamps,
        float32_decimals(o[keep]),
        float32_decimals(h[keep]),
        float32_decimals(lo[keep]),
        float32_decimals(c[keep]),
        volume,
    )
    return frame, dropped
