"""Alpha Vantage (``TIME_SERIES_DAILY`` and ``TIME_SERIES_INTRADAY``) adapter."""

from app.dal.alphavantage.client import AlphaVantageVendor
from app.dal.alphavantage.config import AlphaVantageConfig

__all__ = ["AlphaVantageConfig", "AlphaVantageVendor"]
