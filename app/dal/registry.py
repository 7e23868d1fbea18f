"""Vendor names, and the offline adapters (network adapters are wired in ``app.bootstrap``)."""

from __future__ import annotations

from app.config import Settings
from app.dal.ports import BarSource
from app.errors import ConfigError, InputError

__all__ = ["NETWORK_VENDORS", "OFFLINE_VENDORS", "VENDORS", "build_offline_vendor"]

OFFLINE_VENDORS: tuple[str, ...] = ("synthetic", "file", "sample", "replay")
NETWORK_VENDORS: tuple[str, ...] = ("alpaca", "alphavantage", "yahoo", "twelvedata", "finnhub")
VENDORS: tuple[str, ...] = (*OFFLINE_VENDORS, *NETWORK_VENDORS)


def build_offline_vendor(name: str, settings: Settings) -> BarSource:
    """Return the offline adapter called ``name`` (``synthetic``, ``file``, ``sample``).

    Network adapters need their keys and endpoints from the composition root: build
    :class:`~app.dal.service.MarketData` with ``app.bootstrap.build_market_data`` for those.

    Raises:
        InputError: ``name`` is not a known vendor.
        ConfigError: ``name`` is a network vendor or ``replay`` (wired with its settings by
            the composition root) and no vendor factory was wired.
    """
    del settings  # the offline adapters need no settings; the signature is the factory's
    if name == "synthetic":
        from app.dal.synthetic import SyntheticVendor

        return SyntheticVendor()
    if name == "file":
        from app.dal.filesource import FileVendor

        return FileVendor()
    if name == "sample":
        from app.dal.filesource import SampleVendor

        return SampleVendor()
    if name == "replay":
        raise ConfigError(
            "market-data vendor 'replay' needs REPLAY_DIR and the platform's clock: "
            "build it with app.bootstrap.build_market_data (or pass a vendor_factory)"
        )
    if name in NETWORK_VENDORS:
        raise ConfigError(
            f"market-data vendor {name!r} is not wired in this MarketData: "
            "build it with app.bootstrap.build_market_data (or pass a vendor_factory)"
        )
    raise InputError(f"unknown market-data vendor {name!r}; use one of {', '.join((*VENDORS, 'auto'))}")
