"""ai-trader: AI-assisted equities trading platform."""

__version__ = "0.1.0"
