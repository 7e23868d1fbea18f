"""Settings the Alpaca broker needs, checked once when it is built."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MAX_ACCOUNT_CACHE_S", "PAPER_URL", "AlpacaTradingConfig"]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
MAX_ACCOUNT_CACHE_S = 30.0
"""Longest time an account answer may be reused (``ALPACA_ACCOUNT_CACHE_S``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlpacaTradingConfig:
    """Keys, paper/live and an optional base URL (a proxy, or a local replay server in tests).

    ``account_cache_s`` is how long a ``GET /v2/account`` answer is reused (0: never reused).
    """

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    paper: bool = True
    base_url: str | None = None
    stream_base_url: str | None = None
    fill_wait_s: float = 2.0
    fill_poll_s: float = 0.2
    account_cache_s: float = 2.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.account_cache_s) and 0 <= self.account_cache_s <= MAX_ACCOUNT_CACHE_S):
            raise ValueError(
                f"account_cache_s must be in [0, {MAX_ACCOUNT_CACHE_S:g}] seconds, got {self.account_cache_s}"
            )

    @property
    def url(self) -> str:
        if self.base_url:
            return self.base_url
        return PAPER_URL if self.paper else LIVE_URL

    @property
    def stream_url(self) -> str:
        """The ``trade_updates`` websocket: ``ALPACA_STREAM_URL``, else the trading URL's
        ``/stream`` with ``http(s)`` made ``ws(s)`` (``wss://paper-api.alpaca.markets/stream``)."""
        if self.stream_base_url:
            return self.stream_base_url
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/stream", "", ""))
