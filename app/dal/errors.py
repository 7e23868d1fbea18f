"""DAL errors: the platform's error classes, carrying the route that failed.

Each class subclasses the matching branch of :mod:`app.errors`, so callers that catch
``VendorRejected`` or ``DataQualityError`` keep working; the extra attributes name the vendor,
symbol and interval, and ``vendor_message`` keeps the vendor's own words::

    ConfigError     -> MissingVendorKey      a vendor key is not set (names the variable)
    InputError      -> UnsupportedInterval   the vendor has no such bar size
    DataQualityError-> BadBars               impossible rows or a malformed payload
    VendorRejected  -> VendorRefused         auth, plan, unknown symbol, bad request
    VendorUnavailable -> VendorDown          429 / 5xx / network after the retry budget
"""

from __future__ import annotations

from app.errors import ConfigError, DataQualityError, InputError, VendorRejected, VendorUnavailable

__all__ = [
    "BadBars",
    "MissingVendorKey",
    "RouteError",
    "UnsupportedInterval",
    "VendorDown",
    "VendorRefused",
]


class RouteError(Exception):
    """Mixin: an error about one ``vendor``/``symbol``/``interval`` fetch."""

    def __init__(
        self,
        vendor: str,
        symbol: str,
        interval: str,
        vendor_message: str,
        *,
        status: int | None = None,
        kind: str = "",
    ) -> None:
        self.vendor = vendor
        self.symbol = symbol
        self.interval = interval
        self.vendor_message = vendor_message
        self.status = status
        self.kind = kind
        where = f"{vendor} {symbol} {interval}"
        detail = f" (HTTP {status})" if status is not None else ""
        label = f"{kind}: " if kind else ""
        super().__init__(f"{where}: {label}{vendor_message}{detail}")


class MissingVendorKey(RouteError, ConfigError):
    """A vendor needs an API key that is not configured."""


class UnsupportedInterval(RouteError, InputError):
    """The vendor does not offer the requested bar size."""


class BadBars(RouteError, DataQualityError):
    """The vendor's payload or rows break an invariant."""


class VendorRefused(RouteError, VendorRejected):
    """The vendor refused the request; retrying will not help."""


class VendorDown(RouteError, VendorUnavailable):
    """The vendor kept failing (rate limit, server error, network) after the retry budget."""
