"""Yahoo adapter settings (no key: the chart endpoint is public)."""

from __future__ import annotations

from dataclasses import dataclass

from app.dal.http import HttpConfig

__all__ = ["BROWSER_USER_AGENT", "YahooConfig"]

# Yahoo answers 429 to clients that do not look like a browser.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class YahooConfig:
    """Connection settings for the Yahoo chart API (``YAHOO_BASE_URL``)."""

    http: HttpConfig
