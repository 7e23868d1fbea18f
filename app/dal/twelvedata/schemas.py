"""Twelve Data ``time_series`` payloads, with Twelve Data's field names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TimeSeries", "TimeSeriesError", "TimeSeriesValue"]


class TimeSeriesValue(BaseModel):
    """One bar; values are strings with 5 decimals, ``volume`` is absent for some instruments."""

    model_config = ConfigDict(extra="ignore")

    datetime: str
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


class TimeSeriesMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str | None = None
    interval: str | None = None
    exchange_timezone: str = "America/New_York"


class TimeSeries(BaseModel):
    """``{"meta": {...}, "values": [...newest first...], "status": "ok"}``."""

    model_config = ConfigDict(extra="ignore")

    meta: TimeSeriesMeta = Field(default_factory=TimeSeriesMeta)
    values: list[TimeSeriesValue] = Field(default_factory=list)
    status: str = "ok"


class TimeSeriesError(BaseModel):
    """``{"code": 401, "message": "...", "status": "error"}``."""

    model_config = ConfigDict(extra="ignore")

    code: int = 0
    message: str = ""
    status: str = "error"
