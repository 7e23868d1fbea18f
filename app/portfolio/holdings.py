"""What the target-position router needs to know about an account before it sizes an order.

:class:`BookView` is read in one go (one database connection) by a :class:`RouterBook`; the
storage adapter is :class:`app.storage.repositories.router_book.RouterBookRepository`. Pure
values, no I/O.

``held`` is what ``trading.positions`` holds in the symbol; ``pending`` the signed quantity
still to come from orders that are working (open in ``trading.orders``: quantity minus filled)
or admitted by the governor and not yet written (live reservations). A notional order's
remaining quantity is its notional (less the filled part) at the run's price. ``existing`` is
the order already known under the run's ``client_order_id``, if any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from app.portfolio.book import Position

__all__ = ["BookView", "ExistingOrder", "PendingOrder", "RouterBook"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingOrder:
    """An order of the symbol that is not done: its side and what is left of it."""

    client_order_id: str
    side: str  # "buy" or "sell"
    remaining_qty: Decimal | None
    remaining_notional: Decimal | None

    def signed_qty(self, price: Decimal) -> Decimal:
        """Shares still to come, buy positive; a notional remainder is valued at ``price``."""
        if self.remaining_qty is not None:
            qty = self.remaining_qty
        elif self.remaining_notional is not None and price > 0:
            qty = self.remaining_notional / price
        else:
            qty = _ZERO
        qty = max(qty, _ZERO)
        return qty if self.side == "buy" else -qty


@dataclass(frozen=True, slots=True, kw_only=True)
class ExistingOrder:
    """The order already recorded (or reserved) under a ``client_order_id``."""

    client_order_id: str
    status: str
    source: str  # "orders", "reservation" or "broker"
    side: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "client_order_id": self.client_order_id,
            "status": self.status,
            "source": self.source,
            "side": self.side,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BookView:
    """The account as one run sees it (see the module docstring)."""

    account: str
    symbol: str
    positions: Sequence[Position] = field(default_factory=tuple)
    pending: Sequence[PendingOrder] = field(default_factory=tuple)
    existing: ExistingOrder | None = None

    @property
    def held(self) -> Decimal:
        for position in self.positions:
            if position.symbol == self.symbol:
                return position.quantity
        return _ZERO

    def pending_qty(self, price: Decimal) -> Decimal:
        return sum((order.signed_qty(price) for order in self.pending), _ZERO)

    def marked_equity(self, starting: Decimal, price: Decimal) -> Decimal:
        """``starting`` plus every position's realised and unrealised P&L: the symbol marked at
        ``price``, the others at their average cost (the book keeps no marks of its own)."""
        total = starting
        for position in self.positions:
            total += position.realised_pnl
            if position.quantity != 0 and position.symbol == self.symbol:
                total += position.unrealised_pnl(price)
        return total


class RouterBook(Protocol):
    """Reads a :class:`BookView`; raises when it cannot (the run then fails closed)."""

    def view(self, account: str, symbol: str, client_order_id: str, now: datetime) -> BookView: ...
