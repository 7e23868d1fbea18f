"""The order guard: decides whether an order intent may be published or executed.

Checks, in order, and the ``fallback_reason`` each one yields when it trips:

1. the request's ``kill_switch_active`` or the global switch in the database -> ``kill_switch_active``
2. the intent's notional above the request's or the configured limit -> ``kill_switch_notional``
3. today's realised loss at or beyond ``KILL_SWITCH_DAILY_LOSS_LIMIT`` -> ``kill_switch_daily_loss``
4. open orders at or beyond ``KILL_SWITCH_MAX_OPEN_ORDERS`` -> ``kill_switch_max_orders``

The rules are the pure function :func:`evaluate` of the request, a
:class:`~app.risk.ports.GuardSnapshot` (or :class:`SnapshotUnavailable`) and the limits.
:class:`OrderGuard` reads the snapshot through a :class:`~app.risk.ports.GuardStore`, applies
:func:`evaluate`, logs and records refusals.

Governed checks (a request with a ``client_order_id``, as every router run sends, and a store
that is a :class:`~app.risk.ports.GovernorStore`): the rules above and the risk governor
(:mod:`app.risk.governor`: states ACTIVE/REDUCING/HALTED and the portfolio limits) run inside
one serialised transaction that also reserves the order, so concurrent checks cannot together
pass a cap each alone would pass. Open orders then count live reservations too. Before it,
the order consumer's lag is checked: a book older than ``RISK_MAX_BOOK_AGE_S`` refuses with
``kill_switch_unavailable``. The request's ``marks`` (the broker's current prices of what it
holds, which the router reads with the account's equity) value the book's other symbols; a
symbol without one keeps the governor's own mark (its last fill price).

The guard never fails open: if any check cannot be evaluated (snapshot unreadable, a limit
that is not a positive finite number, a non-finite notional) the decision is
``kill_switch_unavailable`` and the order is refused. Neither :func:`evaluate` nor
:meth:`OrderGuard.check` raises, and a refusal whose audit row cannot be written stays a refusal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.risk.governor import (
    BookPosition,
    GovernorBook,
    GovernorDecision,
    GovernorLimits,
    GovernorOrder,
    GovernorState,
)
from app.risk.governor import evaluate as govern
from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_NOTIONAL,
    KILL_SWITCH_UNAVAILABLE,
)
from app.risk.pnl import realised_pnl
from app.risk.ports import GovernorStore, GuardSnapshot, GuardStore, Reservation, SnapshotQuery

__all__ = [
    "BookAge",
    "GuardDecision",
    "GuardLimits",
    "GuardRequest",
    "GuardSnapshot",
    "OrderGuard",
    "SnapshotQuery",
    "SnapshotUnavailable",
    "evaluate",
    "realised_pnl",
    "snapshot_query",
    "trading_day_start",
]

log = logging.getLogger(__name__)

_EXCHANGE_TZ = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardLimits:
    """Configured limits; ``None`` means that limit is not enforced."""

    notional: float | None = None
    daily_loss: float | None = None
    max_open_orders: int | None = None
    governor: GovernorLimits = field(default_factory=GovernorLimits)
    starting_equity: float = 100_000.0
    reservation_ttl_s: float = 300.0
    max_book_age_s: float | None = None


BookAge = Callable[[], float | None]
"""How many seconds the book is behind (the order consumer's lag); ``None`` when it is current.
Raises when the consumer's status cannot be read (the guard then refuses)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardRequest:
    """What one router run asks the guard about."""

    symbol: str
    notional: float
    kill_switch_active: bool = False
    kill_switch_notional: float | None = None
    client_order_id: str | None = None
    side: str | None = None
    price: float | None = None
    qty: Decimal | None = None
    """The order's quantity, when it has one: the governor's notional is then ``qty x price``
    exactly (a float ``notional`` of an exit can round above the holding's value, and the
    exit would not count as reducing)."""
    marks: Mapping[str, float] | None = None
    """The broker's current prices of the positions it holds: the governor values the other
    symbols of the book at these (at their last fill price where none is given)."""


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """``allowed`` is True only when every check ran and passed; ``limit_use`` as in the governor."""

    allowed: bool
    reason: str | None = None
    detail: str = ""
    limit_use: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return GovernorDecision(self.allowed, limit_use=self.limit_use).warnings

    @classmethod
    def passed(cls) -> GuardDecision:
        return cls(True)

    @classmethod
    def tripped(cls, reason: str, detail: str) -> GuardDecision:
        return cls(False, reason, detail)


@dataclass(frozen=True, slots=True)
class SnapshotUnavailable:
    """The snapshot could not be read (or was not read); ``detail`` says why."""

    detail: str


def trading_day_start(now: datetime) -> datetime:
    """Return midnight (New York time) of ``now``'s trading day, in UTC."""
    local = now.astimezone(_EXCHANGE_TZ)
    return datetime.combine(local.date(), time(0), tzinfo=_EXCHANGE_TZ).astimezone(UTC)


def snapshot_query(request: GuardRequest, limits: GuardLimits, now: datetime) -> SnapshotQuery | None:
    """What :func:`evaluate` will need for ``request``; ``None`` when it needs no snapshot.

    A limit that cannot be used (not a positive finite number, a negative cap) refuses the
    order without its part of the snapshot, so that part is not asked for.
    """
    if request.kill_switch_active:
        return None
    return SnapshotQuery(
        now=now,
        since=trading_day_start(now),
        realised_pnl=limits.daily_loss is not None and _positive_finite(limits.daily_loss),
        open_orders=limits.max_open_orders is not None and limits.max_open_orders >= 0,
    )


def evaluate(
    request: GuardRequest, snapshot: GuardSnapshot | SnapshotUnavailable, limits: GuardLimits
) -> GuardDecision:
    """Apply the guard's rules, in the order of the module docstring; never raises.

    A rule that needs a part of ``snapshot`` that is missing refuses with
    ``kill_switch_unavailable``, as does any failure to evaluate.
    """
    try:
        return _evaluate(request, snapshot, limits)
    except Exception as exc:
        return GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, f"{type(exc).__name__}: {exc}")


def _evaluate(
    request: GuardRequest, snapshot: GuardSnapshot | SnapshotUnavailable, limits: GuardLimits
) -> GuardDecision:
    if request.kill_switch_active:
        return GuardDecision.tripped(KILL_SWITCH_ACTIVE, "kill_switch_active=true in the request")
    if isinstance(snapshot, SnapshotUnavailable):
        return GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, snapshot.detail or "guard snapshot unreadable")
    if snapshot.kill_switch_active:
        return GuardDecision.tripped(KILL_SWITCH_ACTIVE, "global kill switch is on")

    notional = float(request.notional)
    if not math.isfinite(notional) or notional < 0:
        return GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, f"intent notional {notional!r} is not usable")
    notional_limits = [
        ("kill_switch_notional", request.kill_switch_notional),
        ("KILL_SWITCH_NOTIONAL", limits.notional),
    ]
    for name, limit in notional_limits:
        if limit is None:
            continue
        if not _positive_finite(limit):
            return GuardDecision.tripped(
                KILL_SWITCH_UNAVAILABLE, f"{name}={limit!r} is not a positive number"
            )
        if notional > limit:
            return GuardDecision.tripped(
                KILL_SWITCH_NOTIONAL, f"intent notional {notional:.2f} above {name} {limit:.2f}"
            )

    if limits.daily_loss is not None:
        loss_limit = limits.daily_loss
        if not _positive_finite(loss_limit):
            return GuardDecision.tripped(
                KILL_SWITCH_UNAVAILABLE,
                f"KILL_SWITCH_DAILY_LOSS_LIMIT={loss_limit!r} is not a positive number",
            )
        pnl = snapshot.realised_pnl
        if pnl is None:
            return GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, "today's realised P&L was not read")
        if pnl <= -Decimal(str(loss_limit)):
            return GuardDecision.tripped(
                KILL_SWITCH_DAILY_LOSS, f"realised P&L today {pnl:.2f} at or below -{loss_limit:.2f}"
            )

    if limits.max_open_orders is not None:
        cap = limits.max_open_orders
        if cap < 0:
            return GuardDecision.tripped(
                KILL_SWITCH_UNAVAILABLE, f"KILL_SWITCH_MAX_OPEN_ORDERS={cap} is negative"
            )
        open_orders = snapshot.open_orders
        if open_orders is None:
            return GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, "the open order count was not read")
        if open_orders >= cap:
            return GuardDecision.tripped(KILL_SWITCH_MAX_ORDERS, f"{open_orders} open orders, limit {cap}")
    return GuardDecision.passed()


class OrderGuard:
    """Reads a snapshot from its store, applies :func:`evaluate`, logs and records refusals."""

    def __init__(
        self,
        store: GuardStore,
        limits: GuardLimits,
        *,
        book_age: BookAge | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock`` is the platform's (a replayed day's time in a replay): a check without its
        own ``now`` decides, reserves and counts "today" on it; the wall clock by default."""
        self._store = store
        self._limits = limits
        self._book_age = book_age
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def store(self) -> GuardStore:
        return self._store

    @property
    def limits(self) -> GuardLimits:
        return self._limits

    def check(self, request: GuardRequest, *, now: datetime | None = None) -> GuardDecision:
        """Decide; never raises. Any failure to evaluate yields ``kill_switch_unavailable``."""
        try:
            when = now or self._clock()
            if request.client_order_id is not None and isinstance(self._store, GovernorStore):
                decision = self._governed(self._store, request, when)
            else:
                snapshot = self._snapshot(request, when)
                decision = evaluate(request, snapshot, self._limits)
        except Exception as exc:
            decision = GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, f"{type(exc).__name__}: {exc}")
        if not decision.allowed:
            log.warning(
                "order refused by the kill switch",
                extra={
                    "reason": decision.reason,
                    "symbol": request.symbol,
                    "notional": _loggable(request.notional),
                    "detail": decision.detail,
                },
            )
            self._record(request, decision)
        return decision

    def release(self, client_order_id: str) -> None:
        """Drop the reservation of an order that will not reach the order consumer; never raises
        (an unreleased reservation expires after ``RISK_RESERVATION_TTL_S``)."""
        if not isinstance(self._store, GovernorStore):
            return
        try:
            self._store.release(client_order_id)
        except Exception as exc:
            log.warning("reservation %s not released: %s", client_order_id, exc)

    def _governed(self, store: GovernorStore, request: GuardRequest, now: datetime) -> GuardDecision:
        """The governed check: stateless rules first, then the book's, in one reserving transaction."""
        stateless = evaluate(
            request, GuardSnapshot(kill_switch_active=False), GuardLimits(notional=self._limits.notional)
        )
        if not stateless.allowed:
            return stateless
        limits = self._limits
        if limits.max_book_age_s is not None:
            if not _positive_finite(limits.max_book_age_s):
                return GuardDecision.tripped(
                    KILL_SWITCH_UNAVAILABLE, f"RISK_MAX_BOOK_AGE_S={limits.max_book_age_s!r} is not positive"
                )
            if self._book_age is None:
                return GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, "the order consumer's lag is not known")
            age = self._book_age()
            if age is not None and not (math.isfinite(age) and age <= limits.max_book_age_s):
                return GuardDecision.tripped(
                    KILL_SWITCH_UNAVAILABLE,
                    f"the book is {age:.0f} s behind (limit {limits.max_book_age_s:.0f} s): "
                    "the order consumer lags",
                )
        if request.side not in ("buy", "sell") or request.price is None:
            return GuardDecision.tripped(
                KILL_SWITCH_UNAVAILABLE, "a governed check needs the order's side and price"
            )
        price = Decimal(str(request.price))
        order = GovernorOrder(
            symbol=request.symbol,
            side=request.side,
            notional=abs(request.qty) * price if request.qty is not None else Decimal(str(request.notional)),
            price=price,
        )
        governor = replace(limits.governor, max_open_orders=limits.max_open_orders)
        starting = Decimal(str(limits.starting_equity))

        def decide(snapshot: GuardSnapshot, book: GovernorBook | None) -> GovernorDecision:
            legacy = evaluate(request, snapshot, limits)
            if not legacy.allowed:
                return GovernorDecision(False, legacy.reason, legacy.detail)
            if book is None:
                book = GovernorBook(state=_state(snapshot), open_orders=snapshot.open_orders or 0)
            marked = replace(book, starting_equity=starting, positions=marked_positions(book))
            return govern(order, marked, governor)

        def marked_positions(book: GovernorBook) -> dict[str, BookPosition]:
            return {
                symbol: replace(position, mark=marks[symbol]) if symbol in marks else position
                for symbol, position in book.positions.items()
            }

        marks = {
            symbol: Decimal(str(price))
            for symbol, price in (request.marks or {}).items()
            if isinstance(price, int | float) and math.isfinite(price) and price > 0
        }

        query = SnapshotQuery(
            now=now,
            since=trading_day_start(now),
            realised_pnl=limits.daily_loss is not None and _positive_finite(limits.daily_loss),
            open_orders=True,
        )
        reservation = Reservation(
            client_order_id=request.client_order_id or "",
            symbol=request.symbol,
            side=request.side,
            notional=order.notional,
            expires_at=now + timedelta(seconds=limits.reservation_ttl_s),
        )
        ruled = store.reserve(query, reservation, decide, needs_book=governor.needs_book)
        if ruled.warnings:
            log.warning(
                "risk limits near their value",
                extra={"symbol": request.symbol, "limit_use": ruled.limit_use, "warnings": ruled.warnings},
            )
        return GuardDecision(ruled.allowed, ruled.reason, ruled.detail, dict(ruled.limit_use))

    def _snapshot(self, request: GuardRequest, now: datetime) -> GuardSnapshot | SnapshotUnavailable:
        query = snapshot_query(request, self._limits, now)
        if query is None:
            return SnapshotUnavailable("not read: the request turned the kill switch on")
        try:
            return self._store.guard_snapshot(query)
        except Exception as exc:
            return SnapshotUnavailable(f"{type(exc).__name__}: {exc}")

    def _record(self, request: GuardRequest, decision: GuardDecision) -> None:
        try:
            self._store.record_trip(
                decision.reason or KILL_SWITCH_UNAVAILABLE, detail=decision.detail, symbol=request.symbol
            )
        except Exception as exc:  # the order is already refused; losing the audit row must not change that
            log.warning("kill switch trip not recorded: %s", exc)


def _state(snapshot: GuardSnapshot) -> GovernorState:
    return GovernorState.HALTED if snapshot.kill_switch_active else GovernorState.ACTIVE


def _loggable(value: float) -> float | str:
    """``value`` as a JSON-safe log field: non-finite or non-numeric values as text."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return repr(value)


def _positive_finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0
