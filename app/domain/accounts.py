"""What a broker says about an account: balances, positions and working orders.

These are the venue's view, read for reconciliation (the broker is the truth); the book's own
view lives in :mod:`app.portfolio`. Quantities are signed (negative: short); money is Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.orders import OrderSide, OrderStatus
from app.errors import InputError

__all__ = ["ACCOUNTS", "BrokerAccount", "BrokerPosition", "OpenOrder"]

ACCOUNTS: tuple[str, ...] = ("simulated", "alpaca-paper", "alpaca-live")
"""The books ai-trader keeps: one per broker it can trade through (``broker_label``)."""


def _finite(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InputError(f"{name}: must be a finite Decimal, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerAccount:
    """Balances of one brokerage account as the venue reports them.

    ``short_market_value`` is zero or negative (the value owed on short positions);
    ``last_equity`` is the equity at the previous session's close, when the venue reports it.
    """

    account_id: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    long_market_value: Decimal = Decimal(0)
    short_market_value: Decimal = Decimal(0)
    last_equity: Decimal | None = None
    currency: str = "USD"
    status: str = "ACTIVE"
    shorting_enabled: bool = False
    trading_blocked: bool = False

    def __post_init__(self) -> None:
        for name in ("cash", "equity", "buying_power", "long_market_value", "short_market_value"):
            _finite(name, getattr(self, name))
        if self.last_equity is not None:
            _finite("last_equity", self.last_equity)


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerPosition:
    """One open position at the venue: signed quantity and average entry price."""

    symbol: str
    quantity: Decimal
    average_entry_price: Decimal
    current_price: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pl: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.symbol:
            raise InputError("symbol: must not be empty")
        _finite("quantity", self.quantity)
        _finite("average_entry_price", self.average_entry_price)
        if self.average_entry_price < 0:
            raise InputError(f"average_entry_price: must not be negative, got {self.average_entry_price}")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenOrder:
    """An order still working at the venue (not filled, cancelled, expired or rejected).

    ``type`` is the venue's order type name (``market``, ``limit``, ``trailing_stop`` ...):
    orders placed outside ai-trader may use types it never sends.
    """

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: OrderSide
    type: str
    status: OrderStatus
    qty: Decimal | None
    notional: Decimal | None
    filled_qty: Decimal
    submitted_at: datetime
    limit_price: Decimal | None = None
    time_in_force: str = "day"

    def __post_init__(self) -> None:
        if self.status.is_terminal:
            raise InputError(f"an open order cannot have the terminal status {self.status}")
        if self.qty is None and self.notional is None:
            raise InputError(f"open order {self.client_order_id}: needs qty or notional")
        _finite("filled_qty", self.filled_qty)

    @property
    def remaining_qty(self) -> Decimal | None:
        """Shares still to fill (``None`` for a notional order, whose share count is unknown)."""
        return None if self.qty is None else max(self.qty - self.filled_qty, Decimal(0))

    @property
    def signed_remaining_qty(self) -> Decimal | None:
        """``remaining_qty`` with the sign of the position change it would make."""
        remaining = self.remaining_qty
        if remaining is None:
            return None
        return remaining if self.side is OrderSide.BUY else -remaining
