"""``MarketData``: fetch normalised, quality-checked bars from a vendor, through the cache."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from app.config import Settings
from app.dal.cache import BarCache
from app.dal.errors import RouteError
from app.dal.ports import BarRequest, BarSource, Capability, Quote, QuoteSource
from app.dal.quality import QualityReport, check_bars
from app.dal.registry import VENDORS, build_offline_vendor
from app.domain.intervals import Interval, Window, build_window, get_interval
from app.errors import ConfigError, InputError, VendorRejected, VendorUnavailable

__all__ = ["FetchResult", "MarketData"]

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-^=_/:]{0,31}$")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of :meth:`MarketData.fetch`.

    ``vendor`` is the vendor that served the bars (for ``auto`` the one that answered);
    ``attempts`` lists, for ``auto``, each vendor tried before it with the error it gave.
    """

    bars: pd.DataFrame
    vendor: str
    symbol: str
    interval: str
    window: Window
    cache_path: str | None
    from_cache: bool
    quality: QualityReport
    latency_ms: float
    attempts: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _check_symbol(symbol: str) -> str:
    clean = symbol.strip()
    if not _SYMBOL.match(clean):
        raise InputError(f"invalid symbol {symbol!r}: 1-32 letters, digits or . - ^ = _ / :")
    return clean


class MarketData:
    """Fetch bars from the configured vendors, with a parquet cache.

    Parameters:
        settings: platform settings (vendor keys, base URLs, ``DAL_AUTO_ORDER``).
        cache: where fetched bars are stored; ``None`` disables caching.
        vendor_factory: builds an adapter from its name; the default knows only the offline
            vendors, ``app.bootstrap.build_market_data`` wires the network ones.
    """

    def __init__(
        self,
        settings: Settings,
        cache: BarCache | None,
        vendor_factory: Callable[[str, Settings], BarSource] = build_offline_vendor,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self._factory = vendor_factory
        self._vendors: dict[str, BarSource] = {}
        order = [v.strip() for v in settings.DAL_AUTO_ORDER.split(",") if v.strip()]
        unknown = [v for v in order if v not in VENDORS]
        if unknown or not order:
            raise ConfigError(
                f"DAL_AUTO_ORDER: unknown vendor(s) {', '.join(unknown) or '(empty)'}; "
                f"use {', '.join(VENDORS)}"
            )
        self.auto_order: tuple[str, ...] = tuple(order)

    def vendor(self, name: str) -> BarSource:
        """The adapter called ``name`` (built on first use)."""
        if name not in self._vendors:
            self._vendors[name] = self._factory(name, self.settings)
        return self._vendors[name]

    def fetch(
        self,
        vendor: str,
        symbol: str,
        start: date | datetime,
        end: date | datetime,
        interval: str = "1Day",
        use_cache: bool = True,
        path: str | Path | None = None,
        write_cache: bool = True,
    ) -> FetchResult:
        """Fetch bars for ``symbol`` from ``start`` to ``end`` (both inclusive).

        Parameters:
            vendor: a name of :data:`~app.dal.registry.VENDORS` or ``"auto"``.
            use_cache: serve from the cache when the same request was stored before.
            path: CSV or parquet file for the ``file`` vendor.
            write_cache: store freshly fetched bars in the cache.

        Raises:
            InputError: bad symbol, interval, bounds or vendor name.
            MissingVendorKey, UnsupportedInterval, VendorRefused, VendorDown, BadBars:
                see :mod:`app.dal.errors`; for ``auto`` a ``VendorUnavailable`` listing every
                vendor's error when none could serve.
        """
        began = time.perf_counter()
        clean = _check_symbol(symbol)
        spec = get_interval(interval)
        window = build_window(start, end, spec)
        file_path = Path(path) if path is not None else None
        if vendor != "auto":
            return self._fetch_one(vendor, clean, spec, window, use_cache, write_cache, file_path, began)
        attempts: list[tuple[str, str]] = []
        first_empty: FetchResult | None = None
        for name in self.auto_order:
            try:
                result = self._fetch_one(name, clean, spec, window, use_cache, write_cache, file_path, began)
            except (ConfigError, VendorRejected, VendorUnavailable, InputError) as exc:
                if not isinstance(exc, RouteError) and isinstance(exc, InputError):
                    raise
                attempts.append((name, str(exc)))
                continue
            if result.bars.empty:
                # an empty answer may be a gap at this vendor only: ask the next one too
                if first_empty is None:
                    first_empty = result
                else:
                    attempts.append((name, "no bars in the window"))
                continue
            return replace(result, attempts=tuple(attempts))
        if first_empty is not None:
            return replace(
                first_empty, attempts=tuple(attempts), latency_ms=(time.perf_counter() - began) * 1000.0
            )
        tried = "; ".join(f"{name}: {message}" for name, message in attempts)
        raise VendorUnavailable(f"auto {clean} {interval}: no vendor could serve ({tried})")

    def _fetch_one(
        self,
        name: str,
        symbol: str,
        spec: Interval,
        window: Window,
        use_cache: bool,
        write_cache: bool,
        path: Path | None,
        began: float,
    ) -> FetchResult:
        if name not in VENDORS:
            raise InputError(
                f"unknown market-data vendor {name!r}; use one of {', '.join((*VENDORS, 'auto'))}"
            )
        source = self.vendor(name)
        if spec.name not in source.intervals:
            from app.dal.errors import UnsupportedInterval

            offered = ", ".join(
                i for i in ("1Min", "5Min", "15Min", "30Min", "1Hour", "1Day") if i in source.intervals
            )
            raise UnsupportedInterval(name, symbol, spec.name, f"interval not offered; use {offered}")
        cacheable = self.cache is not None and Capability.CACHEABLE in source.capabilities
        key = BarCache.key(name, symbol, spec, window) if cacheable else None
        if use_cache and self.cache is not None and key is not None:
            cached = self.cache.get(key, window_end=window.end)
            if cached is not None:
                cached, report = check_bars(
                    cached, vendor=name, symbol=symbol, interval=spec, window=window, calendar=True
                )
                return FetchResult(
                    bars=cached,
                    vendor=name,
                    symbol=symbol,
                    interval=spec.name,
                    window=window,
                    cache_path=self.cache.url(key),
                    from_cache=True,
                    quality=report,
                    latency_ms=(time.perf_counter() - began) * 1000.0,
                )
        answer = source.fetch_bars(BarRequest(symbol=symbol, interval=spec, window=window, path=path))
        frame = answer.frame
        frame = frame[(frame.index >= window.start) & (frame.index < window.end)]
        frame, report = check_bars(
            frame,
            vendor=name,
            symbol=symbol,
            interval=spec,
            window=window,
            calendar=name not in ("file",),
            dropped_empty=answer.dropped_empty,
        )
        cache_path = None
        if write_cache and self.cache is not None and key is not None:
            cache_path = self.cache.put(key, frame)
        return FetchResult(
            bars=frame,
            vendor=name,
            symbol=symbol,
            interval=spec.name,
            window=window,
            cache_path=cache_path,
            from_cache=False,
            quality=report,
            latency_ms=(time.perf_counter() - began) * 1000.0,
        )

    def close(self) -> None:
        """Close the HTTP clients of the vendors built so far."""
        for source in self._vendors.values():
            http = getattr(source, "http", None)
            if http is not None:
                http.close()
        self._vendors.clear()

    def quote(self, vendor: str, symbol: str) -> Quote:
        """Return the latest quote from ``vendor`` (one with the QUOTE capability).

        Raises:
            InputError: the vendor does not report quotes.
        """
        source = self.vendor(vendor)
        if Capability.QUOTE not in source.capabilities or not isinstance(source, QuoteSource):
            raise InputError(f"vendor {vendor!r} does not report quotes")
        return source.fetch_quote(_check_symbol(symbol))


def describe(result: FetchResult) -> str:
    """One line summarising ``result`` for logs."""
    bars = result.bars
    span = f"{bars.index[0].isoformat()}..{bars.index[-1].isoformat()}" if len(bars) else "no bars"
    origin = "cache" if result.from_cache else "vendor"
    return f"{result.vendor} {result.symbol} {result.interval}: {len(bars)} bars ({span}) from {origin}"
