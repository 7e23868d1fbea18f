"""Alpha Vantage time-series payloads, with Alpha Vantage's keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AlphaVantageRow", "series_key"]


class AlphaVantageRow(BaseModel):
    """One row of ``Time Series (...)``; every value is a string."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    open: float = Field(alias="1. open")
    high: float = Field(alias="2. high")
    low: float = Field(alias="3. low")
    close: float = Field(alias="4. close")
    volume: float = Field(alias="5. volume")


class AlphaVantageMeta(BaseModel):
    """``Meta Data``; the time-zone key is ``5. Time Zone`` (daily) or ``6. Time Zone`` (intraday)."""

    model_config = ConfigDict(extra="allow")

    def time_zone(self) -> str:
        for key, value in (self.model_extra or {}).items():
            if key.endswith("Time Zone") and isinstance(value, str):
                return value
        return "US/Eastern"


def series_key(av_interval: str | None) -> str:
    """The payload key holding the rows: ``Time Series (Daily)`` or ``Time Series (5min)``."""
    return "Time Series (Daily)" if av_interval is None else f"Time Series ({av_interval})"
