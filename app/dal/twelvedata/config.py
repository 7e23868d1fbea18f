"""Twelve Data adapter settings."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from app.config import Settings
from app.dal.http import HttpConfig

__all__ = ["TwelveDataConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TwelveDataConfig:
    """Connection and key for Twelve Data; ``page_size`` is ``outputsize`` (at most 5000)."""

    http: HttpConfig
    api_key: SecretStr | None = None
    page_size: int = 5000

    @classmethod
    def from_settings(cls, settings: Settings) -> TwelveDataConfig:
        return cls(
            http=HttpConfig.from_settings(settings, settings.TWELVEDATA_BASE_URL),
            api_key=settings.TWELVEDATA_API_KEY,
        )

    def __repr__(self) -> str:
        return f"TwelveDataConfig(base_url={self.http.base_url!r}, api_key=***)"
