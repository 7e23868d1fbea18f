"""Alpaca stock bars through ``GET /v2/stocks/bars`` (the endpoint alpaca-py uses)."""

from __future__ import annotations

import pandas as pd

from app.dal.alpaca.config import AlpacaConfig
from app.dal.alpaca.errors import classify
from app.dal.alpaca.parsing import parse_bars
from app.dal.alpaca.schemas import AlpacaBar
from app.dal.errors import BadBars
from app.dal.http import Route, VendorHttp, require_key
from app.dal.ports import BarRequest, Capability, VendorBars

__all__ = ["AlpacaVendor"]

TIMEFRAMES = {
    "1Min": "1Min",
    "5Min": "5Min",
    "15Min": "15Min",
    "30Min": "30Min",
    "1Hour": "1Hour",
    "1Day": "1Day",
}
_MAX_PAGES = 1000


def _rfc3339(value: pd.Timestamp) -> str:
    return value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


class AlpacaVendor:
    """Bars from Alpaca market data v2; follows ``next_page_token`` until it is null."""

    name = "alpaca"
    capabilities = frozenset(
        {Capability.DAILY, Capability.INTRADAY, Capability.PAGINATION, Capability.CACHEABLE}
    )
    intervals = frozenset(TIMEFRAMES)

    def __init__(self, config: AlpacaConfig, http: VendorHttp | None = None) -> None:
        self.config = config
        self.http = http or VendorHttp(config.http)

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        route = Route(self.name, request.symbol, request.interval.name)
        key = require_key(self.config.api_key, "ALPACA_API_KEY", route)
        secret = require_key(self.config.api_secret, "ALPACA_API_SECRET", route)
        headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
        # start and end are inclusive at Alpaca; a one-day pad keeps daily bars stamped at
        # midnight New York (04:00/05:00 UTC) inside, the service trims to the window.
        params: dict[str, str | int] = {
            "symbols": request.symbol,
            "timeframe": TIMEFRAMES[request.interval.name],
            "start": _rfc3339(request.window.start - pd.Timedelta(days=1)),
            "end": _rfc3339(request.window.end + pd.Timedelta(days=1)),
            "limit": self.config.page_size,
            "adjustment": self.config.adjustment,
            "feed": self.config.feed,
            "sort": "asc",
        }
        collected: list[AlpacaBar] = []
        seen_tokens: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = self.http.get(
                "/v2/stocks/bars", params, route, lambda r: classify(r, route), headers=headers
            )
            rows = (page.bars or {}).get(request.symbol) or []
            collected.extend(rows)
            token = page.next_page_token
            if not token:
                return VendorBars(parse_bars(collected, request.interval))
            if token in seen_tokens:
                raise BadBars(route.vendor, route.symbol, route.interval, f"page token repeated: {token!r}")
            seen_tokens.add(token)
            params = {**params, "page_token": token}
        raise BadBars(route.vendor, route.symbol, route.interval, f"more than {_MAX_PAGES} pages")
