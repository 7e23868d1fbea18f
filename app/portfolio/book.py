"""The position book: per account and symbol, what is held and what it cost, updated by fills.

Conventions (pinned by ``tests/unit/portfolio``):

* Quantities are signed: positive long, negative short. ``cost_basis`` is signed the same way
  (quantity times average cost), so ``average_cost = cost_basis / quantity`` is never negative.
* A fill in the direction of the position (or from flat) adds: the cost basis grows by the
  fill's value and the average cost becomes the quantity-weighted mean.
* A fill against the position reduces it at the unchanged average cost and realises
  ``closed quantity x (fill price - average cost)`` (reversed for a short). A fill larger than
  the position closes it, realising P&L on the closed part, and opens the rest on the other
  side at the fill price (a flip through zero).
* Fees are cash paid; ``realised_pnl`` is net of them and ``fees`` adds them up separately.
* Money is Decimal rounded half-even to :data:`MONEY_STEP` (the database's ``Numeric(28, 10)``)
  at each step, and every step keeps ``realised + (quantity x mark - cost_basis)`` equal to
  the cash the position has moved plus its market value, exactly.
* A fill is applied at most once per account (by ``fill_id``); a repeat changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from app.domain.orders import FillPayload, OrderEvent, OrderSide
from app.errors import InputError

__all__ = [
    "MONEY_STEP",
    "BookFill",
    "FillOutcome",
    "Position",
    "PositionBook",
    "clamp_exit",
    "money",
]

MONEY_STEP = Decimal("0.0000000001")
"""Resolution of persisted money and prices (10 decimal places)."""

_ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    """``value`` rounded half-even to :data:`MONEY_STEP`."""
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def _check_finite(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InputError(f"{name}: must be a finite Decimal, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BookFill:
    """One execution as the book applies it."""

    account: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    ts: datetime
    fill_id: str
    fee: Decimal = _ZERO

    def __post_init__(self) -> None:
        if not self.account or not self.symbol or not self.fill_id:
            raise InputError("a fill needs an account, a symbol and a fill_id")
        for name in ("quantity", "price", "fee"):
            _check_finite(name, getattr(self, name))
        if self.quantity <= 0 or self.price <= 0:
            raise InputError(f"fill {self.fill_id}: quantity and price must be positive")
        if self.fee < 0:
            raise InputError(f"fill {self.fill_id}: fee must not be negative, got {self.fee}")
        if self.ts.tzinfo is None:
            raise InputError(f"fill {self.fill_id}: ts must be timezone-aware")

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side is OrderSide.BUY else -self.quantity

    @classmethod
    def from_report(cls, account: str, order: OrderEvent, fill: FillPayload) -> BookFill:
        """The book's view of one fill of a broker report (``fill_id`` = the venue's fill id)."""
        return cls(
            account=account,
            symbol=order.symbol,
            side=order.side,
            quantity=fill.qty,
            price=fill.price,
            fee=fill.fee,
            ts=fill.ts,
            fill_id=fill.venue_fill_id,
        )


@dataclass(frozen=True, slots=True)
class FillOutcome:
    """What one fill did: the new position, P&L realised (net of the fee) and cash moved."""

    position: Position
    realised: Decimal
    cash_delta: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One account's holding in one symbol (flat when ``quantity`` is zero)."""

    account: str
    symbol: str
    quantity: Decimal = _ZERO
    cost_basis: Decimal = _ZERO
    realised_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    last_fill_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("quantity", "cost_basis", "realised_pnl", "fees"):
            _check_finite(name, getattr(self, name))
        if self.quantity == 0 and self.cost_basis != 0:
            raise InputError(f"{self.account}/{self.symbol}: a flat position has no cost basis")
        if self.quantity != 0 and _sign(self.cost_basis) not in (0, _sign(self.quantity)):
            raise InputError(f"{self.account}/{self.symbol}: cost basis and quantity differ in sign")

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def side(self) -> Literal["long", "short", "flat"]:
        return "long" if self.quantity > 0 else "short" if self.quantity < 0 else "flat"

    @property
    def average_cost(self) -> Decimal:
        """Average entry price (0 when flat), rounded to :data:`MONEY_STEP`."""
        if self.quantity == 0:
            return _ZERO
        return money(self.cost_basis / self.quantity)

    def market_value(self, price: Decimal) -> Decimal:
        """Signed value at ``price`` (negative for a short)."""
        return money(self.quantity * price)

    def unrealised_pnl(self, price: Decimal) -> Decimal:
        return self.market_value(price) - self.cost_basis

    def apply(self, fill: BookFill) -> FillOutcome:
        """The position after ``fill`` (see the module docstring for the rules).

        Raises:
            InputError: the fill belongs to another account or symbol.
        """
        if (fill.account, fill.symbol) != (self.account, self.symbol):
            raise InputError(
                f"fill {fill.fill_id} is for {fill.account}/{fill.symbol}, not {self.account}/{self.symbol}"
            )
        delta = fill.signed_quantity
        value = money(fill.quantity * fill.price)
        direction = _sign(delta)
        cash_delta = -direction * value - fill.fee
        held = self.quantity
        if held == 0 or _sign(held) == direction:
            quantity, cost, gross = held + delta, self.cost_basis + direction * value, _ZERO
        else:
            closed = min(abs(held), fill.quantity)
            if closed == abs(held):  # closes the position, maybe opening the other side
                removed = self.cost_basis
                closed_value = value if closed == fill.quantity else money(closed * fill.price)
                quantity = held + delta
                cost = direction * (value - closed_value)
            else:
                removed = money(self.cost_basis * closed / abs(held))
                closed_value = value
                quantity, cost = held + delta, self.cost_basis - removed
            gross = _sign(held) * closed_value - removed
        realised = gross - fill.fee
        position = replace(
            self,
            quantity=quantity,
            cost_basis=cost if quantity != 0 else _ZERO,
            realised_pnl=self.realised_pnl + realised,
            fees=self.fees + fill.fee,
            last_fill_at=fill.ts if self.last_fill_at is None else max(self.last_fill_at, fill.ts),
        )
        return FillOutcome(position, realised, cash_delta)

    def adjusted(self, quantity: Decimal, average_cost: Decimal) -> Position:
        """This position set to ``quantity`` at ``average_cost`` (realised P&L kept)."""
        _check_finite("quantity", quantity)
        _check_finite("average_cost", average_cost)
        if average_cost < 0:
            raise InputError(f"average_cost: must not be negative, got {average_cost}")
        cost = money(quantity * average_cost) if quantity != 0 else _ZERO
        return replace(self, quantity=quantity, cost_basis=cost)


@dataclass(slots=True)
class PositionBook:
    """Positions and cash per account, applied fill by fill (not thread-safe; callers lock).

    ``positions``, ``cash`` and ``applied_fill_ids`` are the whole state, so a caller can build
    a book from stored rows and save it back.
    """

    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    cash: dict[str, Decimal] = field(default_factory=dict)
    applied_fill_ids: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, positions: Iterable[Position] = (), *, cash: Mapping[str, Decimal] | None = None
    ) -> PositionBook:
        """A book holding ``positions`` and the given cash balances.

        Raises:
            InputError: a position for the same account and symbol appears twice.
        """
        book = cls(cash=dict(cash or {}))
        for position in positions:
            key = (position.account, position.symbol)
            if key in book.positions:
                raise InputError(f"position {position.account}/{position.symbol} appears twice")
            book.positions[key] = position
        return book

    def position(self, account: str, symbol: str) -> Position:
        """The position (a flat one when the book has none)."""
        return self.positions.get((account, symbol)) or Position(account=account, symbol=symbol)

    def quantity(self, account: str, symbol: str) -> Decimal:
        return self.position(account, symbol).quantity

    def open_positions(self, account: str) -> list[Position]:
        """Non-flat positions of ``account``, by symbol."""
        return sorted(
            (p for (acct, _), p in self.positions.items() if acct == account and not p.is_flat),
            key=lambda p: p.symbol,
        )

    def all_positions(self, account: str) -> list[Position]:
        """Every position of ``account`` including flat ones that realised P&L, by symbol."""
        return sorted(
            (p for (acct, _), p in self.positions.items() if acct == account), key=lambda p: p.symbol
        )

    def cash_of(self, account: str) -> Decimal:
        return self.cash.get(account, _ZERO)

    def deposit(self, account: str, amount: Decimal) -> None:
        """Add ``amount`` (negative: withdraw) to the account's cash."""
        _check_finite("amount", amount)
        self.cash[account] = self.cash_of(account) + money(amount)

    def apply_fill(self, fill: BookFill) -> FillOutcome | None:
        """Apply ``fill`` once; ``None`` when this account already applied its ``fill_id``."""
        seen = self.applied_fill_ids.setdefault(fill.account, set())
        if fill.fill_id in seen:
            return None
        outcome = self.position(fill.account, fill.symbol).apply(fill)
        self.positions[(fill.account, fill.symbol)] = outcome.position
        self.cash[fill.account] = self.cash_of(fill.account) + outcome.cash_delta
        seen.add(fill.fill_id)
        return outcome

    def set_position(self, position: Position) -> None:
        """Replace one position (used by reconciliation's adjusting entries)."""
        self.positions[(position.account, position.symbol)] = position


def clamp_exit(qty_held: Decimal, desired_delta: Decimal) -> Decimal:
    """``desired_delta`` limited so that an exit never exceeds what is held.

    A change against the position (selling a long, buying back a short) is cut at the held
    quantity, so the position can reach zero but never cross it; going the other way would be
    a new position on the other side and needs its own order. A change in the direction of
    the position, or from flat, is returned unchanged.

    Raises:
        InputError: an argument is not a finite Decimal.
    """
    _check_finite("qty_held", qty_held)
    _check_finite("desired_delta", desired_delta)
    if qty_held > 0 and desired_delta < 0:
        return max(desired_delta, -qty_held)
    if qty_held < 0 and desired_delta > 0:
        return min(desired_delta, -qty_held)
    return desired_delta
