"""Yahoo Finance chart API (``/v8/finance/chart``) adapter."""

from app.dal.yahoo.client import YahooVendor
from app.dal.yahoo.config import YahooConfig

__all__ = ["YahooConfig", "YahooVendor"]
