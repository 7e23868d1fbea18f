"""Alpaca bar payloads, with Alpaca's field names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlpacaBar(BaseModel):
    """One bar: ``t`` is the bar start in RFC-3339 UTC (daily: midnight New York)."""

    model_config = ConfigDict(extra="ignore")

    t: str
    o: float
    h: float
    l: float  # noqa: E741 - Alpaca's field name
    c: float
    v: float
    n: int | None = None
    vw: float | None = None


class AlpacaBarsPage(BaseModel):
    """``GET /v2/stocks/bars?symbols=...``: bars keyed by symbol (``null`` or ``{}`` when empty)."""

    model_config = ConfigDict(extra="ignore")

    bars: dict[str, list[AlpacaBar] | None] | None = None
    next_page_token: str | None = None


class AlpacaError(BaseModel):
    """Error body, e.g. ``{"message": "forbidden."}``."""

    model_config = ConfigDict(extra="ignore")

    message: str = ""
    code: int | None = None
