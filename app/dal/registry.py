"""Build vendor adapters by name. Network adapters are imported only when selected."""

from __future__ import annotations

from app.config import Settings
from app.dal.ports import BarSource
from app.errors import InputError

__all__ = ["NETWORK_VENDORS", "OFFLINE_VENDORS", "VENDORS", "build_vendor"]

OFFLINE_VENDORS: tuple[str, ...] = ("synthetic", "file", "sample")
NETWORK_VENDORS: tuple[str, ...] = ("alpaca", "alphavantage", "yahoo", "twelvedata", "finnhub")
VENDORS: tuple[str, ...] = (*OFFLINE_VENDORS, *NETWORK_VENDORS)


def build_vendor(name: str, settings: Settings) -> BarSource:
    """Return the adapter called ``name``, configured from ``settings``.

    Raises:
        InputError: ``name`` is not a known vendor.
    """
    if name == "synthetic":
        from app.dal.synthetic import SyntheticVendor

        return SyntheticVendor()
    if name == "file":
        from app.dal.filesource import FileVendor

        return FileVendor()
    if name == "sample":
        from app.dal.filesource import SampleVendor

        return SampleVendor()
    if name == "alpaca":
        from app.dal.alpaca import AlpacaConfig, AlpacaVendor

        return AlpacaVendor(AlpacaConfig.from_settings(settings))
    if name == "alphavantage":
        from app.dal.alphavantage import AlphaVantageConfig, AlphaVantageVendor

        return AlphaVantageVendor(AlphaVantageConfig.from_settings(settings))
    if name == "yahoo":
        from app.dal.yahoo import YahooConfig, YahooVendor

        return YahooVendor(YahooConfig.from_settings(settings))
    if name == "twelvedata":
        from app.dal.twelvedata import TwelveDataConfig, TwelveDataVendor

        return TwelveDataVendor(TwelveDataConfig.from_settings(settings))
    if name == "finnhub":
        from app.dal.finnhub import FinnhubConfig, FinnhubVendor

        return FinnhubVendor(FinnhubConfig.from_settings(settings))
    raise InputError(f"unknown market-data vendor {name!r}; use one of {', '.join((*VENDORS, 'auto'))}")
