"""The port every market-data vendor implements, and the values that cross it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from app.domain.intervals import Interval, Window

__all__ = ["BarRequest", "BarSource", "Capability", "Quote", "QuoteSource", "VendorBars"]


class Capability(enum.Enum):
    """What a vendor adapter can do."""

    DAILY = "daily"
    INTRADAY = "intraday"
    QUOTE = "quote"
    PAGINATION = "pagination"
    OFFLINE = "offline"
    CACHEABLE = "cacheable"


@dataclass(frozen=True, slots=True)
class BarRequest:
    """One bar fetch handed to an adapter. ``path`` is only used by the file vendor."""

    symbol: str
    interval: Interval
    window: Window
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class VendorBars:
    """An adapter's answer: a normalised bar frame (possibly wider than the window).

    ``dropped_empty`` counts rows the vendor sent without prices (Yahoo ``null`` bars).
    """

    frame: pd.DataFrame
    dropped_empty: int = 0


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest price a vendor reports for a symbol."""

    vendor: str
    symbol: str
    price: float
    time: datetime
    previous_close: float | None = None


@runtime_checkable
class BarSource(Protocol):
    """A market-data vendor that returns bars."""

    name: str
    capabilities: frozenset[Capability]
    intervals: frozenset[str]

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        """Return the bars of ``request`` as a normalised frame.

        Raises:
            MissingVendorKey, UnsupportedInterval, VendorRefused, VendorDown, BadBars
            (see :mod:`app.dal.errors`).
        """
        ...


@runtime_checkable
class QuoteSource(Protocol):
    """A vendor that also reports the latest quote."""

    name: str

    def fetch_quote(self, symbol: str) -> Quote:
        """Return the latest quote for ``symbol``."""
        ...
