"""Finnhub (``/stock/candle`` and ``/quote``) adapter."""

from app.dal.finnhub.client import FinnhubVendor
from app.dal.finnhub.config import FinnhubConfig

__all__ = ["FinnhubConfig", "FinnhubVendor"]
