"""Build the configured broker (``BROKER=simulated|alpaca``); heavy SDKs load only here."""

from __future__ import annotations

from app.config import Settings
from app.execution.ports import Broker

__all__ = ["broker_label", "create_broker"]


def create_broker(settings: Settings) -> Broker:
    """Return the broker ``settings.BROKER`` names.

    Raises:
        ConfigError: the broker needs settings that are missing (Alpaca keys) or its SDK is
            not installed.
    """
    if settings.BROKER == "simulated":
        from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig

        return SimulatedBroker(SimulatedBrokerConfig.from_settings(settings))
    from app.execution.alpaca.broker import AlpacaBroker
    from app.execution.alpaca.config import AlpacaTradingConfig

    return AlpacaBroker(AlpacaTradingConfig.from_settings(settings))


def broker_label(settings: Settings) -> str:
    """Human-readable name of the configured broker (``alpaca-paper``, ``simulated`` ...)."""
    if settings.BROKER == "alpaca":
        return "alpaca-paper" if settings.ALPACA_PAPER else "alpaca-live"
    return settings.BROKER
