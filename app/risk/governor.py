"""The risk governor: the kill switch's states and the portfolio limits, as pure functions.

States (persisted in the ``kill_switch`` row, every change audited in ``kill_switch_events``):

* ``ACTIVE``: orders pass when every limit passes;
* ``REDUCING``: only an order that reduces an existing position passes (``kill_switch_reducing``);
* ``HALTED``: nothing passes (``kill_switch_active``; ``ai-trader kill-switch on`` and a request's
  ``kill_switch_active=true`` mean HALTED).

Limits are checked against the book *after* the order (what is held, plus the live
reservations of orders admitted but not yet written by the order consumer, plus this order):

===========================  =========================================  ============================
limit                        measure                                    reason when exceeded
===========================  =========================================  ============================
``max_symbol_weight``        ``|exposure of the symbol| / equity``       ``kill_switch_symbol_weight``
``max_gross_exposure``       ``sum |exposure| / equity``                 ``kill_switch_gross_exposure``
``max_open_positions``       symbols with a non-zero position           ``kill_switch_open_positions``
``daily_loss``               ``-(realised today + unrealised)``          ``kill_switch_daily_loss``
``max_drawdown``             ``1 - equity / high-water mark``            ``kill_switch_drawdown``
===========================  =========================================  ============================

An order *reduces* when, against the position held plus the orders already reserved for the
symbol, it shrinks it without crossing zero. An order that reduces is never refused by these five
limits: it can only lower what they measure, and refusing it would keep the account from
getting back under them.

Latching: a breach of ``daily_loss`` or ``max_drawdown`` moves the governor to ``REDUCING``
(:attr:`GovernorDecision.latch`) and it stays there until an operator runs
``ai-trader kill-switch reset --reason ...``. REDUCING rather than HALTED, because an account
that has lost too much must still be able to close what it holds; HALTED stays the operator's.

Marks: the symbol being ordered is marked at the price the request carries (the newest bar's
close); other symbols at the newest mark the book has for them (the broker's current price
when the guard passes one, else the last fill price; their average cost when none).
Equity is ``starting equity + realised P&L of all fills + unrealised P&L``; while no equity
history exists, the starting equity is ``RISK_ACCOUNT_EQUITY`` and the high-water mark starts
there too (``high_water_mark=None``). The mark only rises; ``kill-switch reset`` stores 0, which
re-bases it at the equity of the next check. Unrealised P&L in the daily loss is the whole open
P&L of the positions (no start-of-day marks are stored yet), which counts an older loss against
today: the stricter side.

:func:`evaluate` never raises and fails closed: any value that cannot be used (non-finite, a
non-positive equity or price, a negative limit) refuses with ``kill_switch_unavailable``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_DRAWDOWN,
    KILL_SWITCH_GROSS_EXPOSURE,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_OPEN_POSITIONS,
    KILL_SWITCH_REDUCING,
    KILL_SWITCH_SYMBOL_WEIGHT,
    KILL_SWITCH_UNAVAILABLE,
)

__all__ = [
    "WARN_AT",
    "BookPosition",
    "GovernorBook",
    "GovernorDecision",
    "GovernorLimits",
    "GovernorOrder",
    "GovernorState",
    "evaluate",
    "is_reducing",
]

WARN_AT = 0.8
"""Fraction of a limit at which :attr:`GovernorDecision.warnings` names it."""

_ZERO = Decimal(0)


class GovernorState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernorLimits:
    """Portfolio limits; ``None`` means not enforced. Weights and exposure are fractions of equity."""

    max_symbol_weight: float | None = None
    max_gross_exposure: float | None = None
    max_open_positions: int | None = None
    daily_loss: float | None = None
    max_drawdown: float | None = None
    max_open_orders: int | None = None

    @property
    def needs_book(self) -> bool:
        """Whether any limit needs positions and P&L (the open order cap does not)."""
        return any(
            value is not None
            for value in (
                self.max_symbol_weight,
                self.max_gross_exposure,
                self.max_open_positions,
                self.daily_loss,
                self.max_drawdown,
            )
        )


@dataclass(frozen=True, slots=True)
class BookPosition:
    """A symbol's signed quantity (negative: short), its average cost and newest mark (or ``None``)."""

    qty: Decimal
    avg_cost: Decimal
    mark: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernorOrder:
    """The order asked about: ``notional`` in money (positive), ``price`` the request's newest price."""

    symbol: str
    side: str  # "buy" or "sell"
    notional: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernorBook:
    """Everything the governor looks at, read in the transaction that reserves the order.

    ``pending`` is the signed notional (buy positive) of live reservations per symbol;
    ``open_orders`` counts open confirmed orders plus live reservations. ``realised_total`` is
    the realised P&L of every fill (for equity), ``realised_today`` of today's fills.
    """

    state: GovernorState
    positions: Mapping[str, BookPosition] = field(default_factory=dict)
    pending: Mapping[str, Decimal] = field(default_factory=dict)
    open_orders: int = 0
    realised_today: Decimal = _ZERO
    realised_total: Decimal = _ZERO
    starting_equity: Decimal = _ZERO
    high_water_mark: Decimal | None = None


@dataclass(frozen=True, slots=True)
class GovernorDecision:
    """``allowed`` only when every check ran and passed.

    ``limit_use`` maps each enforced limit to the fraction used after the order (1.0 = at the
    limit); ``latch`` is the state to persist when a loss limit tripped; ``equity`` and
    ``high_water_mark`` are the values computed (the mark to keep), ``None`` when not computed.
    """

    allowed: bool
    reason: str | None = None
    detail: str = ""
    limit_use: dict[str, float] = field(default_factory=dict)
    latch: GovernorState | None = None
    equity: Decimal | None = None
    high_water_mark: Decimal | None = None
    latched_by: tuple[str, str] | None = None
    """With ``latch``: the loss limit that tripped and why (also when this order, a reducing
    one, was admitted all the same)."""

    @property
    def warnings(self) -> list[str]:
        """The limits at or above :data:`WARN_AT` of their value."""
        return sorted(name for name, use in self.limit_use.items() if use >= WARN_AT)


class _Unusable(ValueError):
    """A value the governor cannot decide with."""


def is_reducing(order: GovernorOrder, held: Decimal) -> bool:
    """Whether ``order`` shrinks the position ``held`` without crossing zero."""
    if held == 0 or order.price <= 0:
        return False
    qty = order.notional / order.price
    if order.side == "sell":
        return held > 0 and qty <= held
    return held < 0 and qty <= -held


def evaluate(order: GovernorOrder, book: GovernorBook, limits: GovernorLimits) -> GovernorDecision:
    """Decide on ``order`` against ``book`` and ``limits``; never raises, fails closed."""
    try:
        return _evaluate(order, book, limits)
    except (_Unusable, ArithmeticError, InvalidOperation, TypeError, ValueError) as exc:
        return GovernorDecision(False, KILL_SWITCH_UNAVAILABLE, f"{type(exc).__name__}: {exc}")


def _finite(name: str, value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _Unusable(f"{name} {value!r} is not a finite amount")
    return value


def _limit(name: str, value: float | None, *, allow_zero: bool = False) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Unusable(f"{name}={value!r} is not a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise _Unusable(f"{name}={value!r} must be {'non-negative' if allow_zero else 'positive'}")
    return Decimal(str(value))


def _evaluate(order: GovernorOrder, book: GovernorBook, limits: GovernorLimits) -> GovernorDecision:
    if book.state == GovernorState.HALTED:
        return GovernorDecision(False, KILL_SWITCH_ACTIVE, "the governor is HALTED")
    if not isinstance(book.state, GovernorState):
        raise _Unusable(f"unknown governor state {book.state!r}")
    if order.side not in ("buy", "sell"):
        raise _Unusable(f"order side {order.side!r} is neither buy nor sell")
    notional = _finite("order notional", order.notional)
    price = _finite("order price", order.price)
    if notional < 0 or price <= 0:
        raise _Unusable(f"order notional {notional} / price {price} not usable")
    held = book.positions.get(order.symbol)
    held_qty = _finite("held quantity", held.qty) if held is not None else _ZERO
    # orders already admitted for the symbol count as done: two sells of the whole long are not
    # both reducing (reserved notional in shares at this order's price)
    after_reserved = held_qty + _finite("reserved notional", book.pending.get(order.symbol, _ZERO)) / price
    # only a position the book holds can be reduced, never one that exists only as a reservation
    reducing = (after_reserved > 0) == (held_qty > 0) and held_qty != 0 and is_reducing(order, after_reserved)
    if book.state == GovernorState.REDUCING and not reducing:
        return GovernorDecision(
            False,
            KILL_SWITCH_REDUCING,
            f"REDUCING: a {order.side} of {order.symbol} does not reduce {held_qty}",
        )

    use: dict[str, float] = {}
    cap = _limit("max_open_orders", limits.max_open_orders, allow_zero=True)
    if cap is not None:
        if book.open_orders < 0:
            raise _Unusable(f"open order count {book.open_orders} is negative")
        use["max_open_orders"] = _fraction(Decimal(book.open_orders + 1), cap)
        if book.open_orders >= cap:
            return GovernorDecision(
                False, KILL_SWITCH_MAX_ORDERS, f"{book.open_orders} open orders, limit {cap}", use
            )
    if not limits.needs_book:
        return GovernorDecision(True, limit_use=use)

    # the book after the order: held + live reservations + this order, marked
    signed = notional if order.side == "buy" else -notional
    exposures: dict[str, Decimal] = {}
    unrealised = _ZERO
    for symbol, position in book.positions.items():
        qty = _finite(f"{symbol} quantity", position.qty)
        cost = _finite(f"{symbol} average cost", position.avg_cost)
        mark = price if symbol == order.symbol else (position.mark if position.mark is not None else cost)
        mark = _finite(f"{symbol} mark", mark)
        if mark <= 0:
            raise _Unusable(f"{symbol} mark {mark} is not positive")
        exposures[symbol] = qty * mark
        unrealised += qty * (mark - cost)
    for symbol, amount in book.pending.items():
        exposures[symbol] = exposures.get(symbol, _ZERO) + _finite(f"{symbol} reserved notional", amount)
    exposures[order.symbol] = exposures.get(order.symbol, _ZERO) + signed

    realised_today = _finite("realised P&L today", book.realised_today)
    equity = (
        _finite("starting equity", book.starting_equity)
        + _finite("realised P&L", book.realised_total)
        + unrealised
    )
    if equity <= 0:
        raise _Unusable(f"equity {equity:.2f} is not positive")
    mark = book.starting_equity if book.high_water_mark is None else book.high_water_mark
    hwm = max(equity, _finite("high-water mark", mark))

    latched: tuple[str, str] | None = None
    daily = _limit("daily_loss", limits.daily_loss)
    if daily is not None:
        loss = -(realised_today + unrealised)
        use["daily_loss"] = _fraction(max(loss, _ZERO), daily)
        if loss >= daily:
            latched = (KILL_SWITCH_DAILY_LOSS, f"loss today {loss:.2f} at or beyond {daily:.2f}")
    drawdown_limit = _limit("max_drawdown", limits.max_drawdown)
    if drawdown_limit is not None:
        drawdown = 1 - equity / hwm
        use["max_drawdown"] = _fraction(drawdown, drawdown_limit)
        if drawdown >= drawdown_limit and latched is None:
            latched = (
                KILL_SWITCH_DRAWDOWN,
                f"drawdown {drawdown:.4f} from {hwm:.2f} at or beyond {drawdown_limit}",
            )

    checks: list[tuple[str, str, Decimal | None, Decimal]] = [
        (
            "max_symbol_weight",
            KILL_SWITCH_SYMBOL_WEIGHT,
            _limit("max_symbol_weight", limits.max_symbol_weight),
            abs(exposures[order.symbol]) / equity,
        ),
        (
            "max_gross_exposure",
            KILL_SWITCH_GROSS_EXPOSURE,
            _limit("max_gross_exposure", limits.max_gross_exposure),
            sum((abs(v) for v in exposures.values()), _ZERO) / equity,
        ),
        (
            "max_open_positions",
            KILL_SWITCH_OPEN_POSITIONS,
            _limit("max_open_positions", limits.max_open_positions, allow_zero=True),
            Decimal(sum(1 for v in exposures.values() if v != 0)),
        ),
    ]
    breach: tuple[str, str] | None = None
    for name, reason, limit, measure in checks:
        if limit is None:
            continue
        use[name] = _fraction(measure, limit)
        if measure > limit and breach is None:
            breach = (reason, f"{name} after the order {measure:.4f} above {limit}")

    latch = GovernorState.REDUCING if latched is not None else None
    if reducing:
        # a reducing order passes even when a loss limit tripped; the trip still latches, under
        # its own name, so that only `kill-switch reset` clears it
        return GovernorDecision(
            True, limit_use=use, latch=latch, equity=equity, high_water_mark=hwm, latched_by=latched
        )
    if latched is not None:
        return GovernorDecision(False, latched[0], latched[1], use, latch, equity, hwm, latched)
    if breach is not None:
        return GovernorDecision(False, breach[0], breach[1], use, equity=equity, high_water_mark=hwm)
    return GovernorDecision(True, limit_use=use, equity=equity, high_water_mark=hwm)


def _fraction(measure: Decimal, limit: Decimal) -> float:
    if limit == 0:  # a zero cap is fully used by anything at all
        return 1.0 if measure > 0 else 0.0
    return round(float(measure / limit), 6)
