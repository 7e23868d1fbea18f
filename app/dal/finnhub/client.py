"""Finnhub bars through ``GET /stock/candle`` and the latest quote through ``GET /quote``."""

from __future__ import annotations

import pandas as pd
from pydantic import ValidationError

from app.dal.errors import BadBars
from app.dal.finnhub.config import FinnhubConfig
from app.dal.finnhub.errors import classify
from app.dal.finnhub.parsing import parse_candles, parse_quote
from app.dal.finnhub.schemas import Candles, FinnhubQuote
from app.dal.http import Route, VendorHttp, require_key
from app.dal.ports import BarRequest, Capability, Quote, VendorBars

__all__ = ["FinnhubVendor"]

RESOLUTIONS = {"1Min": "1", "5Min": "5", "15Min": "15", "30Min": "30", "1Hour": "60", "1Day": "D"}


class FinnhubVendor:
    """Candles (plans that include them) and quotes from Finnhub."""

    name = "finnhub"
    capabilities = frozenset({Capability.DAILY, Capability.INTRADAY, Capability.QUOTE, Capability.CACHEABLE})
    intervals = frozenset(RESOLUTIONS)

    def __init__(self, config: FinnhubConfig, http: VendorHttp | None = None) -> None:
        self.config = config
        self.http = http or VendorHttp(config.http)

    def _headers(self, route: Route) -> dict[str, str]:
        return {"X-Finnhub-Token": require_key(self.config.api_key, "FINNHUB_API_KEY", route)}

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        route = Route(self.name, request.symbol, request.interval.name)
        headers = self._headers(route)
        pad = pd.Timedelta(days=1)
        params: dict[str, str | int] = {
            "symbol": request.symbol,
            "resolution": RESOLUTIONS[request.interval.name],
            "from": int((request.window.start - pad).timestamp()),
            "to": int((request.window.end + pad).timestamp()),
        }
        payload = self.http.get("/stock/candle", params, route, lambda r: classify(r, route), headers=headers)
        try:
            candles = Candles.model_validate(payload)
        except ValidationError as exc:
            raise BadBars(
                route.vendor, route.symbol, route.interval, f"unexpected candle payload: {exc}"
            ) from exc
        return VendorBars(parse_candles(candles, request.interval, route))

    def fetch_quote(self, symbol: str) -> Quote:
        """Return Finnhub's latest quote for ``symbol``."""
        route = Route(self.name, symbol, "quote")
        headers = self._headers(route)
        payload = self.http.get(
            "/quote", {"symbol": symbol}, route, lambda r: classify(r, route), headers=headers
        )
        try:
            quote = FinnhubQuote.model_validate(payload)
        except ValidationError as exc:
            raise BadBars(
                route.vendor, route.symbol, route.interval, f"unexpected quote payload: {exc}"
            ) from exc
        return parse_quote(quote, route)
