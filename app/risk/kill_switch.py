"""The global kill switch: the reasons a guard refuses an order, and the switch's state as values.

The switch is persisted as one row (``kill_switch`` id 1). Every change (kind ``set``) and
every time a guard refuses an order (kind ``trip``) is appended to ``kill_switch_events``, so
operators can see who flipped it, why, and how often each limit fired before enabling live
execution. The SQL lives in :class:`app.storage.repositories.kill_switch.KillSwitchRepository`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "KILL_SWITCH_ACTIVE",
    "KILL_SWITCH_DAILY_LOSS",
    "KILL_SWITCH_DRAWDOWN",
    "KILL_SWITCH_GROSS_EXPOSURE",
    "KILL_SWITCH_MAX_ORDERS",
    "KILL_SWITCH_NOTIONAL",
    "KILL_SWITCH_OPEN_POSITIONS",
    "KILL_SWITCH_REDUCING",
    "KILL_SWITCH_SYMBOL_WEIGHT",
    "KILL_SWITCH_UNAVAILABLE",
    "TRIP_REASONS",
    "KillSwitchEventView",
    "KillSwitchStatus",
]

KILL_SWITCH_ACTIVE = "kill_switch_active"
"""The global switch or the request's ``kill_switch_active`` is on."""
KILL_SWITCH_NOTIONAL = "kill_switch_notional"
"""The intent's notional is above the request's or the configured notional limit."""
KILL_SWITCH_DAILY_LOSS = "kill_switch_daily_loss"
"""Today's realised loss reached ``KILL_SWITCH_DAILY_LOSS_LIMIT``."""
KILL_SWITCH_MAX_ORDERS = "kill_switch_max_orders"
"""Open orders reached ``KILL_SWITCH_MAX_OPEN_ORDERS``."""
KILL_SWITCH_UNAVAILABLE = "kill_switch_unavailable"
"""The guard could not decide (database down, bad limit, book too old); the order is refused."""
KILL_SWITCH_REDUCING = "kill_switch_reducing"
"""The governor is REDUCING and the order does not reduce an existing position."""
KILL_SWITCH_SYMBOL_WEIGHT = "kill_switch_symbol_weight"
"""The symbol's exposure after the order is above ``RISK_MAX_SYMBOL_WEIGHT`` of equity."""
KILL_SWITCH_GROSS_EXPOSURE = "kill_switch_gross_exposure"
"""Gross exposure after the order is above ``RISK_MAX_GROSS_EXPOSURE`` of equity."""
KILL_SWITCH_OPEN_POSITIONS = "kill_switch_open_positions"
"""Open positions after the order are above ``RISK_MAX_OPEN_POSITIONS``."""
KILL_SWITCH_DRAWDOWN = "kill_switch_drawdown"
"""Drawdown from the high-water mark reached ``RISK_MAX_DRAWDOWN`` (latches REDUCING)."""

TRIP_REASONS = (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_NOTIONAL,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_UNAVAILABLE,
    KILL_SWITCH_REDUCING,
    KILL_SWITCH_SYMBOL_WEIGHT,
    KILL_SWITCH_GROSS_EXPOSURE,
    KILL_SWITCH_OPEN_POSITIONS,
    KILL_SWITCH_DRAWDOWN,
)


@dataclass(frozen=True, slots=True)
class KillSwitchStatus:
    """The switch's state plus how many times each guard reason has tripped."""

    active: bool
    reason: str | None
    actor: str | None
    updated_at: datetime | None
    trips: dict[str, int] = field(default_factory=dict)
    state: str = "ACTIVE"
    latched_reason: str | None = None

    @property
    def trips_total(self) -> int:
        return sum(self.trips.values())


@dataclass(frozen=True, slots=True)
class KillSwitchEventView:
    """One row of ``kill_switch_events``: a change (``set``, reason ``on``/``off``) or a ``trip``."""

    id: int
    ts: datetime
    kind: str
    reason: str
    actor: str | None
    symbol: str | None
    detail: str | None
