"""Alpha Vantage adapter settings."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from app.dal.http import HttpConfig

__all__ = ["AlphaVantageConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlphaVantageConfig:
    """Connection and key for Alpha Vantage.

    ``compact_days``: a daily window starting within this many calendar days of today is
    fetched with ``outputsize=compact`` (the latest 100 sessions, free); older windows need
    ``outputsize=full``, a premium feature on current plans.
    """

    http: HttpConfig
    api_key: SecretStr | None = None
    compact_days: int = 140

    def __repr__(self) -> str:
        return f"AlphaVantageConfig(base_url={self.http.base_url!r}, api_key=***)"
