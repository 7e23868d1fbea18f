"""Twelve Data values to the normalised frame.

``datetime`` is exchange-local (``meta.exchange_timezone``): a bare date for daily bars, the
bar start for intraday. Prices are float32 values printed with 5 decimals and are restored
to their short decimals. Values come newest first; the frame is sorted.
"""

from __future__ import annotations

import pandas as pd

from app.dal.errors import BadBars
from app.dal.frames import empty_bars, float32_decimals, make_bars
from app.dal.http import Route
from app.dal.twelvedata.schemas import TimeSeries
from app.domain.intervals import Interval

__all__ = ["parse_series"]


def parse_series(series: TimeSeries, interval: Interval, route: Route) -> pd.DataFrame:
    """Normalise one page of values."""
    values = series.values
    if not values:
        return empty_bars()
    try:
        local = pd.DatetimeIndex(pd.to_datetime([v.datetime for v in values], format="ISO8601"))
    except ValueError as exc:
        raise BadBars(route.vendor, route.symbol, route.interval, f"bad datetime: {exc}") from exc
    if interval.is_daily:
        stamps = local.normalize().tz_localize("UTC")
    else:
        tz = series.meta.exchange_timezone
        stamps = local.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")
    return make_bars(
        stamps,
        float32_decimals([v.open for v in values]),
        float32_decimals([v.high for v in values]),
        float32_decimals([v.low for v in values]),
        float32_decimals([v.close for v in values]),
        [v.volume for v in values],
    )
