"""ai-trader: AI-assisted equities trading platform."""

from app.kernel_cache import key_numba_cache

__version__ = "0.1.0"

key_numba_cache()  # before any kernel module is imported (see app.kernel_cache)
