"""Market data: vendor adapters, a parquet cache, quality checks, signals and regimes.

Public contract::

    md = build_market_data(settings)  # app.bootstrap
    res = md.fetch("synthetic", "AAPL", date(2023, 1, 3), date(2023, 2, 3), interval="1Day")
    sig = compute_signals(res.bars)
    reg = compute_regimes(res.bars, sig)
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
from app.dal.intervals import INTERVALS, Interval, Window, build_window
from app.dal.ports import BarRequest, BarSource, Capability, Quote, QuoteSource, VendorBars
from app.dal.quality import QualityReport
from app.dal.regimes import REGIME_LABELS, RegimeConfig, compute_regimes
from app.dal.registry import VENDORS
from app.dal.service import FetchResult, MarketData
from app.dal.signals import SIGNAL_COLUMNS, SignalConfig, compute_signals

__all__ = [
    "BAR_COLUMNS",
    "INTERVALS",
    "REGIME_LABELS",
    "SIGNAL_COLUMNS",
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
    "RegimeConfig",
    "RouteError",
    "SignalConfig",
    "UnsupportedInterval",
    "VendorBars",
    "VendorDown",
    "VendorRefused",
    "Window",
    "build_window",
    "compute_regimes",
    "compute_signals",
    "empty_bars",
    "make_bars",
]
