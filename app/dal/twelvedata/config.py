"""Twelve Data adapter settings."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from app.dal.http import HttpConfig

__all__ = ["TwelveDataConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TwelveDataConfig:
    """Connection and key for Twelve Data; ``page_size`` is ``outputsize`` (at most 5000)."""

    http: HttpConfig
    api_key: SecretStr | None = None
    page_size: int = 5000

    def __repr__(self) -> str:
        return f"TwelveDataConfig(base_url={self.http.base_url!r}, api_key=***)"
