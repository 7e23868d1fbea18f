"""Finnhub candles and quotes to DAL values.

Daily ``t`` is 00:00 UTC of the session date (before July 2021 it was the 09:30 New York
open, which has the same UTC date), so a daily bar's date is the UTC date of ``t``.
Intraday ``t`` is the bar start.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from app.dal.errors import BadBars, VendorRefused
from app.dal.finnhub.schemas import Candles, FinnhubQuote
from app.dal.frames import empty_bars, make_bars
from app.dal.http import Route
from app.dal.ports import Quote
from app.domain.intervals import Interval

__all__ = ["parse_candles", "parse_quote"]


def parse_candles(candles: Candles, interval: Interval, route: Route) -> pd.DataFrame:
    """Normalise candles (``no_data`` gives an empty frame)."""
    if candles.s == "no_data":
        return empty_bars()
    if candles.s != "ok":
        raise BadBars(route.vendor, route.symbol, route.interval, f"candle status {candles.s!r}")
    n = len(candles.t)
    lengths = {k: len(getattr(candles, k)) for k in ("o", "h", "l", "c", "v")}
    if any(length != n for length in lengths.values()):
        raise BadBars(route.vendor, route.symbol, route.interval, f"arrays differ in length: t={n} {lengths}")
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(candles.t, dtype=np.int64), unit="s", utc=True))
    if interval.is_daily:
        stamps = stamps.normalize()
    return make_bars(stamps, candles.o, candles.h, candles.l, candles.c, candles.v)


def parse_quote(quote: FinnhubQuote, route: Route) -> Quote:
    """Build a :class:`Quote`; an all-zero answer means Finnhub does not know the symbol."""
    if not quote.c or not quote.t:
        raise VendorRefused(
            route.vendor, route.symbol, "quote", "no quote (Finnhub answered zeros)", kind="unknown symbol"
        )
    return Quote(
        vendor=route.vendor,
        symbol=route.symbol,
        price=float(quote.c),
        time=datetime.fromtimestamp(quote.t, tz=UTC),
        previous_close=float(quote.pc) if quote.pc else None,
    )
