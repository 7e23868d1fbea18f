"""Twelve Data bars through ``GET /time_series``.

``end_date`` is exclusive and a page holds at most ``outputsize`` (5000) values, newest
first; when a page is full the next request ends at the oldest datetime received.
"""

from __future__ import annotations

import pandas as pd

from app.dal.errors import BadBars
from app.dal.frames import empty_bars
from app.dal.http import Route, VendorHttp, require_key
from app.dal.ports import BarRequest, Capability, VendorBars
from app.dal.twelvedata.config import TwelveDataConfig
from app.dal.twelvedata.errors import classify
from app.dal.twelvedata.parsing import parse_series
from app.domain.intervals import NEW_YORK

__all__ = ["TwelveDataVendor"]

INTERVALS = {
    "1Min": "1min",
    "5Min": "5min",
    "15Min": "15min",
    "30Min": "30min",
    "1Hour": "1h",
    "1Day": "1day",
}
_MAX_PAGES = 200


class TwelveDataVendor:
    """Bars from Twelve Data (exchange time zone, regular hours)."""

    name = "twelvedata"
    capabilities = frozenset(
        {Capability.DAILY, Capability.INTRADAY, Capability.PAGINATION, Capability.CACHEABLE}
    )
    intervals = frozenset(INTERVALS)

    def __init__(self, config: TwelveDataConfig, http: VendorHttp | None = None) -> None:
        self.config = config
        self.http = http or VendorHttp(config.http)

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        route = Route(self.name, request.symbol, request.interval.name)
        key = require_key(self.config.api_key, "TWELVEDATA_API_KEY", route)
        headers = {"Authorization": f"apikey {key}"}
        # dates are read in the exchange zone; pad a day on both sides (end_date is exclusive)
        first = (request.window.start.tz_convert(NEW_YORK) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        end = (request.window.end.tz_convert(NEW_YORK) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        params: dict[str, str | int] = {
            "symbol": request.symbol,
            "interval": INTERVALS[request.interval.name],
            "start_date": first,
            "end_date": end,
            "outputsize": self.config.page_size,
            "timezone": "Exchange",
            "format": "JSON",
        }
        frames = []
        for _ in range(_MAX_PAGES):
            series = self.http.get(
                "/time_series", params, route, lambda r: classify(r, route), headers=headers
            )
            frames.append(parse_series(series, request.interval, route))
            if len(series.values) < self.config.page_size:
                frames = [f for f in frames if not f.empty]
                return VendorBars(pd.concat(frames).sort_index(kind="stable") if frames else empty_bars())
            oldest = min(v.datetime for v in series.values)
            if oldest == params["end_date"]:
                raise BadBars(route.vendor, route.symbol, route.interval, f"paging stuck at {oldest}")
            params = {**params, "end_date": oldest}
        raise BadBars(route.vendor, route.symbol, route.interval, f"more than {_MAX_PAGES} pages")
