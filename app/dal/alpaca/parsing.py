"""Alpaca bars to the normalised frame."""

from __future__ import annotations

import pandas as pd

from app.dal.alpaca.schemas import AlpacaBar
from app.dal.frames import empty_bars, make_bars, utc_midnight_of_local_date
from app.domain.intervals import NEW_YORK, Interval

__all__ = ["parse_bars"]


def parse_bars(bars: list[AlpacaBar], interval: Interval) -> pd.DataFrame:
    """Normalise Alpaca bars; daily bars move from midnight New York to 00:00 UTC of that date."""
    if not bars:
        return empty_bars()
    stamps = pd.DatetimeIndex(pd.to_datetime([b.t for b in bars], utc=True, format="ISO8601"))
    if interval.is_daily:
        stamps = utc_midnight_of_local_date(stamps, NEW_YORK)
    return make_bars(
        stamps,
        [b.o for b in bars],
        [b.h for b in bars],
        [b.l for b in bars],
        [b.c for b in bars],
        [b.v for b in bars],
    )
