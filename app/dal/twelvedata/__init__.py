"""Twelve Data ``time_series`` adapter."""

from app.dal.twelvedata.client import TwelveDataVendor
from app.dal.twelvedata.config import TwelveDataConfig

__all__ = ["TwelveDataConfig", "TwelveDataVendor"]
