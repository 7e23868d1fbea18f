"""Alpaca adapter settings."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from app.dal.http import HttpConfig

__all__ = ["AlpacaConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlpacaConfig:
    """Connection, keys and request options for Alpaca market data.

    ``http.base_url`` is the host root (``ALPACA_DATA_BASE_URL``, without ``/v2``). ``feed``
    ``iex`` is what free accounts may query; ``page_size`` is Alpaca's ``limit``.
    """

    http: HttpConfig
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    feed: str = "iex"
    adjustment: str = "raw"
    page_size: int = 10000

    def __repr__(self) -> str:
        return f"AlpacaConfig(base_url={self.http.base_url!r}, feed={self.feed!r}, keys=***)"
