"""Exceptions raised by ai-trader.

Each branch tells the caller what to do next::

    AiTraderError
    ├── ConfigError          stop: a setting or config file is wrong; fix it and restart
    ├── InputError           reject: a caller sent a bad value (CLI exit 2, API 422)
    │   └── DataQualityError     a bar or frame breaks an invariant (OHLC, volume, order)
    ├── NotFoundError        reject: the thing asked for does not exist (API 404)
    ├── RetryableError       back off and try again: timeouts, 429s, 5xx, a database outage
    │   └── VendorUnavailable    a vendor kept failing after the retry budget
    ├── VendorRejected       give up: a vendor refused the request (auth, unknown symbol, plan)
    ├── BusError             the event bus failed or was misused
    ├── StorageError         the database or blob store failed
    └── OrderRejected        a broker or a guard refused an order (carries a reason)

Adapters translate foreign exceptions into these with ``raise ... from exc`` so the
original cause stays attached.
"""

from __future__ import annotations

__all__ = [
    "AiTraderError",
    "BusError",
    "ConfigError",
    "DataQualityError",
    "InputError",
    "NotFoundError",
    "OrderRejected",
    "RetryableError",
    "StorageError",
    "VendorRejected",
    "VendorUnavailable",
]


class AiTraderError(Exception):
    """Root of every error ai-trader raises on purpose."""


class ConfigError(AiTraderError):
    """A setting, env key or config file is invalid."""


class InputError(AiTraderError):
    """A caller supplied an invalid value."""


class DataQualityError(InputError):
    """Market data breaks an invariant and cannot be used."""


class NotFoundError(AiTraderError):
    """The requested entity does not exist."""


class RetryableError(AiTraderError):
    """A transient failure; the same call may succeed later."""


class VendorUnavailable(RetryableError):
    """A market-data vendor kept failing after the retry budget was spent."""


class VendorRejected(AiTraderError):
    """A market-data vendor refused the request; retrying will not help."""


class BusError(AiTraderError):
    """The event bus failed or was used incorrectly."""


class StorageError(AiTraderError):
    """The database or the blob store failed."""


class OrderRejected(AiTraderError):
    """An order was refused by a guard or a broker."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
