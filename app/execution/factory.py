"""How the configured broker is named; brokers themselves are built in ``app.bootstrap``."""

from __future__ import annotations

from app.config import Settings

__all__ = ["broker_label"]


def broker_label(settings: Settings) -> str:
    """Human-readable name of the configured broker (``alpaca-paper``, ``simulated`` ...)."""
    if settings.BROKER == "alpaca":
        return "alpaca-paper" if settings.ALPACA_PAPER else "alpaca-live"
    return settings.BROKER
