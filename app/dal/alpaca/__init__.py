"""Alpaca Market Data API v2 (stock bars) adapter."""

from app.dal.alpaca.client import AlpacaVendor
from app.dal.alpaca.config import AlpacaConfig

__all__ = ["AlpacaConfig", "AlpacaVendor"]
