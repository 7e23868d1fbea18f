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
    raise InputError(f"unknown market-data vendor {name!r}; use one of {', '.join((*VENDORS, 'auto'))}")
