"""Yahoo chart payloads, with Yahoo's field names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChartEnvelope", "ChartError", "ChartQuote", "ChartResult"]


class ChartQuote(BaseModel):
    """``indicators.quote[0]``: arrays parallel to ``timestamp``; values may be null."""

    model_config = ConfigDict(extra="ignore")

    open: list[float | None] = Field(default_factory=list)
    high: list[float | None] = Field(default_factory=list)
    low: list[float | None] = Field(default_factory=list)
    close: list[float | None] = Field(default_factory=list)
    volume: list[float | None] = Field(default_factory=list)


class ChartIndicators(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quote: list[ChartQuote] = Field(default_factory=list)


class ChartMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str | None = None
    exchangeTimezoneName: str = "America/New_York"  # noqa: N815 - Yahoo's field name
    dataGranularity: str | None = None  # noqa: N815


class ChartResult(BaseModel):
    """One ``chart.result`` item; ``timestamp`` is absent when the range holds no sessions."""

    model_config = ConfigDict(extra="ignore")

    meta: ChartMeta = Field(default_factory=ChartMeta)
    timestamp: list[int] | None = None
    indicators: ChartIndicators = Field(default_factory=ChartIndicators)


class ChartError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = ""
    description: str = ""


class ChartBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    result: list[ChartResult] | None = None
    error: ChartError | None = None


class ChartEnvelope(BaseModel):
    """The whole answer: ``{"chart": {"result": [...], "error": null}}``."""

    model_config = ConfigDict(extra="ignore")

    chart: ChartBody
