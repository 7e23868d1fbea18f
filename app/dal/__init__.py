"""Market data: vendor adapters, a parquet cache and quality checks.

Public contract::

    md = build_market_data(settings)  # app.bootstrap
    res = md.fetch("synthetic", "AAPL", date(2023, 1, 3), date(2023, 2, 3), interval="1Day")

Signals and regimes computed from the bars live in :mod:`app.decision`.
"""

from __future__ import annotations

from app.dal.cache import BarCache
from app.dal.errors import (
    BadBars,
    MissingVendorKey,
    RouteError,
    UnsupportedInterval,
    VendorDown,
    VendorRefused,
)
from app.dal.frames import BAR_COLUMNS, empty_bars, make_bars
from app.dal.ports import BarRequest, BarSource, Capability, Quote, QuoteSource, VendorBars
from app.dal.quality import QualityReport
from app.dal.registry import VENDORS
from app.dal.service import FetchResult, MarketData
from app.domain.intervals import INTERVALS, Interval, Window, build_window

__all__ = [
    "BAR_COLUMNS",
    "INTERVALS",
    "VENDORS",
    "BadBars",
    "BarCache",
    "BarRequest",
    "BarSource",
    "Capability",
    "FetchResult",
    "Interval",
    "MarketData",
    "MissingVendorKey",
    "QualityReport",
    "Quote",
    "QuoteSource",
    "RouteError",
    "UnsupportedInterval",
    "VendorBars",
    "VendorDown",
    "VendorRefused",
    "Window",
    "build_window",
    "empty_bars",
    "make_bars",
]
