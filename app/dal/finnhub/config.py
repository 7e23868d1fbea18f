"""Finnhub adapter settings."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from app.dal.http import HttpConfig

__all__ = ["FinnhubConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FinnhubConfig:
    """Connection and key for Finnhub (``FINNHUB_BASE_URL`` includes ``/api/v1``)."""

    http: HttpConfig
    api_key: SecretStr | None = None

    def __repr__(self) -> str:
        return f"FinnhubConfig(base_url={self.http.base_url!r}, api_key=***)"
