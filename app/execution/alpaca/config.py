"""Settings the Alpaca broker needs, checked once when it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

__all__ = ["PAPER_URL", "AlpacaTradingConfig"]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlpacaTradingConfig:
    """Keys, paper/live and an optional base URL (a proxy, or a local replay server in tests)."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    paper: bool = True
    base_url: str | None = None
    stream_base_url: str | None = None
    fill_wait_s: float = 2.0
    fill_poll_s: float = 0.2

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
