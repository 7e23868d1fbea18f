"""Yahoo adapter settings (no key: the chart endpoint is public)."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.dal.http import HttpConfig

__all__ = ["YahooConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class YahooConfig:
    """Connection settings for the Yahoo chart API (``YAHOO_BASE_URL``)."""

    http: HttpConfig

    @classmethod
    def from_settings(cls, settings: Settings) -> YahooConfig:
        return cls(http=HttpConfig.from_settings(settings, settings.YAHOO_BASE_URL))
