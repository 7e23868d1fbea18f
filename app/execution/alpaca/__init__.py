"""Alpaca trading API (paper by default) through alpaca-py's ``TradingClient``."""
