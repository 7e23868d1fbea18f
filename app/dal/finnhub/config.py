"""Finnhub adapter settings."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from app.config import Settings
from app.dal.http import HttpConfig

__all__ = ["FinnhubConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FinnhubConfig:
    """Connection and key for Finnhub (``FINNHUB_BASE_URL`` includes ``/api/v1``)."""

    http: HttpConfig
    api_key: SecretStr | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FinnhubConfig:
        return cls(
            http=HttpConfig.from_settings(settings, settings.FINNHUB_BASE_URL),
            api_key=settings.FINNHUB_API_KEY,
        )

    def __repr__(self) -> str:
        return f"FinnhubConfig(base_url={self.http.base_url!r}, api_key=***)"
