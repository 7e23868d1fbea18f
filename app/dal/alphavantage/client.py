"""Alpha Vantage bars through ``GET /query`` (``TIME_SERIES_DAILY`` / ``TIME_SERIES_INTRADAY``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from app.dal.alphavantage.config import AlphaVantageConfig
from app.dal.alphavantage.errors import classify
from app.dal.alphavantage.parsing import parse_series
from app.dal.alphavantage.schemas import series_key
from app.dal.frames import empty_bars
from app.dal.http import Route, VendorHttp, require_key
from app.dal.ports import BarRequest, Capability, VendorBars
from app.domain.intervals import NEW_YORK

__all__ = ["AlphaVantageVendor"]

INTRADAY = {"1Min": "1min", "5Min": "5min", "15Min": "15min", "30Min": "30min", "1Hour": "60min"}
_RECENT_DAYS = 28


class AlphaVantageVendor:
    """Bars from Alpha Vantage; filters rows to the window itself (the API has no range)."""

    name = "alphavantage"
    capabilities = frozenset({Capability.DAILY, Capability.INTRADAY, Capability.CACHEABLE})
    intervals = frozenset({*INTRADAY, "1Day"})

    def __init__(self, config: AlphaVantageConfig, http: VendorHttp | None = None) -> None:
        self.config = config
        self.http = http or VendorHttp(config.http)

    def _months(self, request: BarRequest) -> list[str | None]:
        """``None`` (trailing 30 days) for a recent window, else each ``YYYY-MM`` it covers."""
        now = datetime.now(UTC)
        if request.window.start >= pd.Timestamp(now - timedelta(days=_RECENT_DAYS)):
            return [None]
        first = request.window.start.tz_convert(NEW_YORK)
        last = (request.window.end - pd.Timedelta(microseconds=1)).tz_convert(NEW_YORK)
        months = pd.period_range(first.strftime("%Y-%m"), last.strftime("%Y-%m"), freq="M")
        return [str(m) for m in months]

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        route = Route(self.name, request.symbol, request.interval.name)
        key = require_key(self.config.api_key, "ALPHAVANTAGE_API_KEY", route)
        base: dict[str, str | int] = {"symbol": request.symbol, "datatype": "json", "apikey": key}
        if request.interval.is_daily:
            recent = datetime.now(UTC).date() - timedelta(days=self.config.compact_days)
            size = "compact" if request.window.first_date >= recent else "full"
            params = {**base, "function": "TIME_SERIES_DAILY", "outputsize": size}
            payload = self.http.get("/query", params, route, lambda r: classify(r, route))
            return VendorBars(parse_series(payload, series_key(None), request.interval, route))
        av_interval = INTRADAY[request.interval.name]
        frames = []
        for month in self._months(request):
            params = {
                **base,
                "function": "TIME_SERIES_INTRADAY",
                "interval": av_interval,
                "outputsize": "full",
                "extended_hours": "false",
                "adjusted": "false",
            }
            if month is not None:
                params["month"] = month
            payload = self.http.get("/query", params, route, lambda r: classify(r, route))
            frames.append(parse_series(payload, series_key(av_interval), request.interval, route))
        frames = [f for f in frames if not f.empty]
        return VendorBars(pd.concat(frames).sort_index(kind="stable") if frames else empty_bars())
