"""How the configured broker is named; brokers themselves are built in ``app.bootstrap``."""

from __future__ import annotations

from app.config import Settings

__all__ = ["broker_label"]


def broker_label(settings: Settings) -> str:
    """Name of the configured broker, which is also its book's account (one of ``ACCOUNTS``)."""
    if settings.BROKER == "alpaca":
        return "alpaca-paper" if settings.ALPACA_PAPER else "alpaca-live"
    return settings.BROKER
