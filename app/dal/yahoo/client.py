"""Yahoo bars through ``GET /v8/finance/chart/{symbol}`` with ``period1``/``period2``."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd

from app.dal.http import Route, VendorHttp
from app.dal.ports import BarRequest, Capability, VendorBars
from app.dal.yahoo.config import YahooConfig
from app.dal.yahoo.errors import classify
from app.dal.yahoo.parsing import parse_chart

__all__ = ["YahooVendor"]

INTERVALS = {"1Min": "1m", "5Min": "5m", "15Min": "15m", "30Min": "30m", "1Hour": "60m", "1Day": "1d"}


class YahooVendor:
    """Bars from the chart API Yahoo Finance pages use (regular hours, no key)."""

    name = "yahoo"
    capabilities = frozenset({Capability.DAILY, Capability.INTRADAY, Capability.CACHEABLE})
    intervals = frozenset(INTERVALS)

    def __init__(self, config: YahooConfig, http: VendorHttp | None = None) -> None:
        self.config = config
        self.http = http or VendorHttp(config.http)

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        route = Route(self.name, request.symbol, request.interval.name)
        # period2 is exclusive; pad both ends by a day and let the service trim.
        pad = pd.Timedelta(days=1)
        params: dict[str, str | int] = {
            "period1": int((request.window.start - pad).timestamp()),
            "period2": int((request.window.end + pad).timestamp()),
            "interval": INTERVALS[request.interval.name],
            "includePrePost": "false",
            "events": "div,splits",
        }
        path = f"/v8/finance/chart/{quote(request.symbol, safe='')}"
        envelope = self.http.get(path, params, route, lambda r: classify(r, route))
        assert envelope.chart.result is not None
        frame, dropped = parse_chart(envelope.chart.result[0], request.interval, route)
        return VendorBars(frame, dropped_empty=dropped)
