"""The order guard: decides whether an order intent may be published or executed.

Checks, in order, and the ``fallback_reason`` each one yields when it trips:

1. the request's ``kill_switch_active`` or the global switch in the database -> ``kill_switch_active``
2. the intent's notional above the request's or the configured limit -> ``kill_switch_notional``
3. today's realised loss at or beyond ``KILL_SWITCH_DAILY_LOSS_LIMIT`` -> ``kill_switch_daily_loss``
4. open orders at or beyond ``KILL_SWITCH_MAX_OPEN_ORDERS`` -> ``kill_switch_max_orders``

The guard never fails open: if any check cannot be evaluated (database down, a limit that is
not a positive finite number, a non-finite notional) the decision is ``kill_switch_unavailable``
and the order is refused. :meth:`OrderGuard.check` does not raise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.domain.orders import OrderStatus
from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_NOTIONAL,
    KILL_SWITCH_UNAVAILABLE,
    KillSwitchStore,
)
from app.storage.db import Database
from app.storage.models import Fill, Order

__all__ = [
    "GuardDecision",
    "GuardLimits",
    "GuardRequest",
    "OrderGuard",
    "realised_pnl",
    "trading_day_start",
]

log = logging.getLogger(__name__)

_EXCHANGE_TZ = ZoneInfo("America/New_York")
_OPEN_STATUSES = (OrderStatus.NEW.value, OrderStatus.ACCEPTED.value, OrderStatus.PARTIALLY_FILLED.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardLimits:
    """Configured limits; ``None`` means that limit is not enforced."""

    notional: float | None = None
    daily_loss: float | None = None
    max_open_orders: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardRequest:
    """What one router run asks the guard about."""

    symbol: str
    notional: float
    kill_switch_active: bool = False
    kill_switch_notional: float | None = None


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """``allowed`` is True only when every check ran and passed."""

    allowed: bool
    reason: str | None = None
    detail: str = ""

    @classmethod
    def passed(cls) -> GuardDecision:
        return cls(True)

    @classmethod
    def tripped(cls, reason: str, detail: str) -> GuardDecision:
        return cls(False, reason, detail)


def trading_day_start(now: datetime) -> datetime:
    """Return midnight (New York time) of ``now``'s trading day, in UTC."""
    local = now.astimezone(_EXCHANGE_TZ)
    return datetime.combine(local.date(), time(0), tzinfo=_EXCHANGE_TZ).astimezone(UTC)


def realised_pnl(
    fills: Iterable[tuple[str, str, Decimal, Decimal, Decimal, datetime]], since: datetime
) -> Decimal:
    """Realised profit (negative: loss) of fills at or after ``since``, net of their fees.

    ``fills`` are ``(symbol, side, qty, price, fee, ts)`` in time order and must include the
    earlier fills that built each position, so the average cost is known. Long and short
    positions both realise P&L when reduced.
    """
    position: dict[str, Decimal] = {}
    avg_cost: dict[str, Decimal] = {}
    total = Decimal(0)
    for symbol, side, qty, price, fee, ts in fills:
        signed = qty if side == "buy" else -qty
        held = position.get(symbol, Decimal(0))
        cost = avg_cost.get(symbol, Decimal(0))
        realised = Decimal(0)
        if held != 0 and (held > 0) != (signed > 0):
            closed = min(abs(held), abs(signed))
            realised = closed * (price - cost) if held > 0 else closed * (cost - price)
        new_held = held + signed
        if new_held == 0:
            avg_cost.pop(symbol, None)
        elif held == 0 or (held > 0) != (new_held > 0):
            avg_cost[symbol] = price
        elif (held > 0) == (signed > 0):
            avg_cost[symbol] = (abs(held) * cost + abs(signed) * price) / abs(new_held)
        position[symbol] = new_held
        if ts >= since:
            total += realised - fee
    return total


class OrderGuard:
    """Runs the kill-switch checks against the database and the configured limits."""

    def __init__(self, database: Database, limits: GuardLimits, store: KillSwitchStore | None = None) -> None:
        self._db = database
        self._limits = limits
        self._store = store if store is not None else KillSwitchStore(database)

    @property
    def store(self) -> KillSwitchStore:
        return self._store

    def check(self, request: GuardRequest, *, now: datetime | None = None) -> GuardDecision:
        """Decide; never raises. Any failure to evaluate yields ``kill_switch_unavailable``."""
        try:
            decision = self._decide(request, now or datetime.now(UTC))
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

    def _record(self, request: GuardRequest, decision: GuardDecision) -> None:
        try:
            self._store.record_trip(
                decision.reason or KILL_SWITCH_UNAVAILABLE, detail=decision.detail, symbol=request.symbol
            )
        except Exception as exc:  # the order is already refused; losing the audit row must not change that
            log.warning("kill switch trip not recorded: %s", exc)

    def _decide(self, request: GuardRequest, now: datetime) -> GuardDecision:
        if request.kill_switch_active:
            return GuardDecision.tripped(KILL_SWITCH_ACTIVE, "kill_switch_active=true in the request")
        if self._store.is_active():
            return GuardDecision.tripped(KILL_SWITCH_ACTIVE, "global kill switch is on")

        notional = float(request.notional)
        if not math.isfinite(notional) or notional < 0:
            return GuardDecision.tripped(
                KILL_SWITCH_UNAVAILABLE, f"intent notional {notional!r} is not usable"
            )
        limits = [
            ("kill_switch_notional", request.kill_switch_notional),
            ("KILL_SWITCH_NOTIONAL", self._limits.notional),
        ]
        for name, limit in limits:
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

        if self._limits.daily_loss is not None:
            limit = self._limits.daily_loss
            if not _positive_finite(limit):
                return GuardDecision.tripped(
                    KILL_SWITCH_UNAVAILABLE,
                    f"KILL_SWITCH_DAILY_LOSS_LIMIT={limit!r} is not a positive number",
                )
            pnl = self._todays_pnl(now)
            if pnl <= -Decimal(str(limit)):
                return GuardDecision.tripped(
                    KILL_SWITCH_DAILY_LOSS, f"realised P&L today {pnl:.2f} at or below -{limit:.2f}"
                )

        if self._limits.max_open_orders is not None:
            cap = self._limits.max_open_orders
            if cap < 0:
                return GuardDecision.tripped(
                    KILL_SWITCH_UNAVAILABLE, f"KILL_SWITCH_MAX_OPEN_ORDERS={cap} is negative"
                )
            open_orders = self._open_orders()
            if open_orders >= cap:
                return GuardDecision.tripped(
                    KILL_SWITCH_MAX_ORDERS, f"{open_orders} open orders, limit {cap}"
                )
        return GuardDecision.passed()

    def _todays_pnl(self, now: datetime) -> Decimal:
        since = trading_day_start(now)
        with self._db.session() as session:
            symbols = select(Fill.symbol).where(Fill.ts >= since, Fill.ts <= now).distinct()
            rows = session.execute(
                select(Fill.symbol, Fill.side, Fill.qty, Fill.price, Fill.fee, Fill.ts)
                .where(Fill.symbol.in_(symbols), Fill.ts <= now)
                .order_by(Fill.ts, Fill.id)
            ).all()
        return realised_pnl(((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows), since)

    def _open_orders(self) -> int:
        with self._db.session() as session:
            count = session.scalar(
                select(func.count()).select_from(Order).where(Order.status.in_(_OPEN_STATUSES))
            )
        return int(count or 0)


def _loggable(value: float) -> float | str:
    """``value`` as a JSON-safe log field: non-finite or non-numeric values as text."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return repr(value)


def _positive_finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0
