"""Finnhub payloads, with Finnhub's single-letter field names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Candles", "FinnhubError", "FinnhubQuote"]


class Candles(BaseModel):
    """``/stock/candle``: parallel arrays; ``s`` is ``ok`` or ``no_data``."""

    model_config = ConfigDict(extra="ignore")

    s: str
    t: list[int] = Field(default_factory=list)
    o: list[float] = Field(default_factory=list)
    h: list[float] = Field(default_factory=list)
    l: list[float] = Field(default_factory=list)  # noqa: E741 - Finnhub's field name
    c: list[float] = Field(default_factory=list)
    v: list[float] = Field(default_factory=list)


class FinnhubQuote(BaseModel):
    """``/quote``: current price ``c``, previous close ``pc``, time ``t`` (epoch seconds)."""

    model_config = ConfigDict(extra="ignore")

    c: float | None = None
    d: float | None = None
    dp: float | None = None
    h: float | None = None
    l: float | None = None  # noqa: E741
    o: float | None = None
    pc: float | None = None
    t: int | None = None


class FinnhubError(BaseModel):
    """``{"error": "..."}``."""

    model_config = ConfigDict(extra="ignore")

    error: str = ""
