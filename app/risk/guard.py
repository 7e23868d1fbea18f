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

The guard never fails open: if any check cannot be evaluated (snapshot unreadable, a limit
that is not a positive finite number, a non-finite notional) the decision is
``kill_switch_unavailable`` and the order is refused. Neither :func:`evaluate` nor
:meth:`OrderGuard.check` raises, and a refusal whose audit row cannot be written stays a refusal.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_NOTIONAL,
    KILL_SWITCH_UNAVAILABLE,
)
from app.risk.pnl import realised_pnl
from app.risk.ports import GuardSnapshot, GuardStore, SnapshotQuery

__all__ = [
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

    def __init__(self, store: GuardStore, limits: GuardLimits) -> None:
        self._store = store
        self._limits = limits

    @property
    def store(self) -> GuardStore:
        return self._store

    @property
    def limits(self) -> GuardLimits:
        return self._limits

    def check(self, request: GuardRequest, *, now: datetime | None = None) -> GuardDecision:
        """Decide; never raises. Any failure to evaluate yields ``kill_switch_unavailable``."""
        try:
            snapshot = self._snapshot(request, now or datetime.now(UTC))
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


def _loggable(value: float) -> float | str:
    """``value`` as a JSON-safe log field: non-finite or non-numeric values as text."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return repr(value)


def _positive_finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0
