"""Reconciliation rules: compare the book with the broker, and the entries that align them.

The broker is authoritative. :func:`reconcile` lists every difference between the book's
positions of one account and the broker's, each typed by what it means:

* :class:`MissingInBook` - the broker holds a position the book does not know (opened outside
  ai-trader, or a fill the book never saw): adopted, never ignored;
* :class:`MissingAtBroker` - the book holds a position the broker does not: set to flat;
* :class:`QuantityMismatch` - both hold the symbol in different quantities;
* :class:`AverageCostMismatch` - same quantity, average cost apart by more than the tolerance.

Each difference carries the broker's open orders in that symbol, so an operator can see
whether a working order explains it. Every difference yields one :class:`AdjustingEntry`
(source ``reconcile``, who, why) that sets the book's quantity and average cost to the
broker's; realised P&L is never rewritten. Applying the entries makes the next
:func:`reconcile` report no difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Literal

from app.domain.accounts import BrokerPosition, OpenOrder
from app.errors import InputError
from app.portfolio.book import Position, PositionBook

__all__ = [
    "AdjustingEntry",
    "AverageCostMismatch",
    "MissingAtBroker",
    "MissingInBook",
    "PositionDifference",
    "QuantityMismatch",
    "ReconcileTolerance",
    "ReconciliationReport",
    "apply_adjustments",
    "reconcile",
]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileTolerance:
    """How far book and broker may differ before it counts.

    ``quantity`` is absolute shares (brokers round fractional shares to 9 places);
    ``average_cost_fraction`` is relative to the broker's average entry price (brokers round
    it to cents and may lot-match differently from the book's average cost).
    """

    quantity: Decimal = Decimal("0.000000001")
    average_cost_fraction: Decimal = Decimal("0.0005")

    def __post_init__(self) -> None:
        for name in ("quantity", "average_cost_fraction"):
            value = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise InputError(f"tolerance {name}: must be a finite number >= 0, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionDifference:
    """One way the book differs from the broker for one symbol."""

    kind: ClassVar[str] = "difference"
    action: ClassVar[str] = "adjust"

    account: str
    symbol: str
    book_quantity: Decimal
    broker_quantity: Decimal
    book_average_cost: Decimal
    broker_average_cost: Decimal
    open_orders: tuple[OpenOrder, ...] = ()

    def describe(self) -> str:
        text = (
            f"{self.kind}: {self.symbol} book {self.book_quantity} @ {self.book_average_cost}, "
            f"broker {self.broker_quantity} @ {self.broker_average_cost}"
        )
        if self.open_orders:
            ids = ", ".join(o.client_order_id for o in self.open_orders)
            text += f" ({len(self.open_orders)} open order(s) at the broker: {ids})"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class MissingInBook(PositionDifference):
    kind: ClassVar[str] = "missing_in_book"
    action: ClassVar[str] = "adopt"


@dataclass(frozen=True, slots=True, kw_only=True)
class MissingAtBroker(PositionDifference):
    kind: ClassVar[str] = "missing_at_broker"
    action: ClassVar[str] = "flatten"


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantityMismatch(PositionDifference):
    kind: ClassVar[str] = "quantity_mismatch"
    action: ClassVar[str] = "set_quantity"


@dataclass(frozen=True, slots=True, kw_only=True)
class AverageCostMismatch(PositionDifference):
    kind: ClassVar[str] = "average_cost_mismatch"
    action: ClassVar[str] = "set_average_cost"


@dataclass(frozen=True, slots=True, kw_only=True)
class AdjustingEntry:
    """A book correction: set ``account``/``symbol`` to the broker's quantity and average cost."""

    account: str
    symbol: str
    quantity_before: Decimal
    quantity_after: Decimal
    average_cost_before: Decimal
    average_cost_after: Decimal
    kind: str
    who: str
    why: str
    at: datetime
    source: Literal["reconcile"] = "reconcile"

    @property
    def quantity_change(self) -> Decimal:
        return self.quantity_after - self.quantity_before


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconciliationReport:
    """The differences of one account, the entries that fix them, and the broker's open orders."""

    account: str
    at: datetime
    differences: tuple[PositionDifference, ...]
    entries: tuple[AdjustingEntry, ...]
    open_orders: tuple[OpenOrder, ...] = field(default=())

    @property
    def is_clean(self) -> bool:
        return not self.differences


def _broker_positions_by_symbol(positions: Iterable[BrokerPosition]) -> dict[str, BrokerPosition]:
    by_symbol: dict[str, BrokerPosition] = {}
    for position in positions:
        if position.symbol in by_symbol:
            raise InputError(f"the broker listed {position.symbol} twice")
        if position.quantity != 0:
            by_symbol[position.symbol] = position
    return by_symbol


def reconcile(
    account: str,
    book_positions: Iterable[Position],
    broker_positions: Iterable[BrokerPosition],
    open_orders: Iterable[OpenOrder] = (),
    *,
    who: str,
    why: str,
    at: datetime,
    tolerance: ReconcileTolerance | None = None,
) -> ReconciliationReport:
    """Compare ``account``'s book positions with the broker's and build the adjusting entries.

    ``who`` and ``why`` are written into every entry (the operator or process, and the reason
    given), after the difference's own description.

    Raises:
        InputError: ``who`` or ``why`` is empty, ``at`` is naive, a position belongs to another
            account, or a symbol appears twice on one side.
    """
    if not who.strip() or not why.strip():
        raise InputError("reconciliation needs who and why")
    if at.tzinfo is None:
        raise InputError("at: must be timezone-aware")
    limits = tolerance or ReconcileTolerance()
    book: dict[str, Position] = {}
    for position in book_positions:
        if position.account != account:
            raise InputError(f"position {position.account}/{position.symbol} is not in account {account}")
        if position.symbol in book:
            raise InputError(f"the book listed {position.symbol} twice")
        if not position.is_flat:
            book[position.symbol] = position
    broker = _broker_positions_by_symbol(broker_positions)
    orders = tuple(sorted(open_orders, key=lambda o: (o.symbol, o.submitted_at, o.client_order_id)))
    differences: list[PositionDifference] = []
    for symbol in sorted(set(book) | set(broker)):
        mine, theirs = book.get(symbol), broker.get(symbol)
        found: type[PositionDifference] | None = None
        if mine is None:
            found = MissingInBook
        elif theirs is None:
            found = MissingAtBroker
        elif abs(mine.quantity - theirs.quantity) > limits.quantity:
            found = QuantityMismatch
        elif abs(mine.average_cost - theirs.average_entry_price) > (
            limits.average_cost_fraction * theirs.average_entry_price
        ):
            found = AverageCostMismatch
        if found is not None:
            differences.append(
                found(
                    account=account,
                    symbol=symbol,
                    book_quantity=mine.quantity if mine else _ZERO,
                    broker_quantity=theirs.quantity if theirs else _ZERO,
                    book_average_cost=mine.average_cost if mine else _ZERO,
                    broker_average_cost=theirs.average_entry_price if theirs else _ZERO,
                    open_orders=tuple(o for o in orders if o.symbol == symbol),
                )
            )
    entries = tuple(
        AdjustingEntry(
            account=account,
            symbol=d.symbol,
            quantity_before=d.book_quantity,
            quantity_after=d.broker_quantity,
            average_cost_before=d.book_average_cost,
            average_cost_after=d.broker_average_cost if d.broker_quantity != 0 else _ZERO,
            kind=d.kind,
            who=who,
            why=f"{d.describe()}; {why}",
            at=at,
        )
        for d in differences
    )
    return ReconciliationReport(
        account=account, at=at, differences=tuple(differences), entries=entries, open_orders=orders
    )


def apply_adjustments(book: PositionBook, entries: Iterable[AdjustingEntry]) -> list[Position]:
    """Apply reconciliation entries to ``book``; return the positions they set.

    Raises:
        InputError: an entry's ``quantity_before`` no longer matches the book (the book moved
            since the reconciliation; reconcile again).
    """
    changed: list[Position] = []
    for entry in entries:
        current = book.position(entry.account, entry.symbol)
        if current.quantity != entry.quantity_before:
            raise InputError(
                f"{entry.account}/{entry.symbol}: the book holds {current.quantity}, the entry expected "
                f"{entry.quantity_before}; reconcile again"
            )
        updated = current.adjusted(entry.quantity_after, entry.average_cost_after)
        book.set_position(updated)
        changed.append(updated)
    return changed
