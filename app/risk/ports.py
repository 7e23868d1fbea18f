"""What the order guard needs from storage, as values and one Protocol.

The guard's rules (:func:`app.risk.guard.evaluate`) are a pure function of the request, a
:class:`GuardSnapshot` and the limits. A :class:`GuardStore` reads the snapshot (the storage
adapter is :class:`app.storage.repositories.guard.GuardRepository`) and keeps the audit trail
of refused orders.

Contract of :meth:`GuardStore.guard_snapshot`: it reads only what :class:`SnapshotQuery` asks
for (a part not asked for is ``None``), and it raises, rather than guessing, when any asked-for
part cannot be read; the guard then refuses the order (``kill_switch_unavailable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.risk.governor import GovernorBook, GovernorDecision

__all__ = ["GovernorStore", "GuardSnapshot", "GuardStore", "Reservation", "SnapshotQuery"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotQuery:
    """Which parts of the snapshot to read, and the trading day they are about.

    ``since`` is the start of the trading day, ``now`` the time of the check: fills with
    ``since <= ts <= now`` count as today's.
    """

    now: datetime
    since: datetime
    realised_pnl: bool = False
    open_orders: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardSnapshot:
    """The trading state one guard check looks at.

    ``realised_pnl`` is today's realised P&L net of fees, ``realised_pnl_by_symbol`` the same
    per symbol traded today; ``None`` (and an empty mapping) when not asked for.
    """

    kill_switch_active: bool
    open_orders: int | None = None
    realised_pnl: Decimal | None = None
    realised_pnl_by_symbol: Mapping[str, Decimal] = field(default_factory=dict)


class GuardStore(Protocol):
    """Reads guard snapshots and appends refused orders to the kill switch audit trail."""

    def guard_snapshot(self, query: SnapshotQuery) -> GuardSnapshot:
        """Read the parts of the snapshot ``query`` asks for; raise when any cannot be read."""
        ...

    def record_trip(self, reason: str, *, detail: str = "", symbol: str | None = None) -> None:
        """Append one refused order (kind ``trip``) to ``kill_switch_events``; may raise."""
        ...

    def is_active(self) -> bool:
        """Whether the global kill switch is on now; raise when it cannot be read."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """The order a governed check admits: kept until the order consumer writes it or ``expires_at``."""

    client_order_id: str
    symbol: str
    side: str
    notional: Decimal
    expires_at: datetime


@runtime_checkable
class GovernorStore(Protocol):
    """Runs a governed check: read the book, decide, reserve, all in one serialised transaction."""

    def reserve(
        self,
        query: SnapshotQuery,
        reservation: Reservation,
        decide: Callable[[GuardSnapshot, GovernorBook | None], GovernorDecision],
        *,
        needs_book: bool,
    ) -> GovernorDecision:
        """Lock, read the snapshot (and the book when ``needs_book`` or REDUCING), call ``decide``,
        insert ``reservation`` when allowed and persist a latch; raise when anything cannot be read."""
        ...

    def release(self, client_order_id: str) -> None:
        """Drop the reservation of an order that will not be written (rejected, not published)."""
        ...
