"""Guard snapshot repository: what one order-guard check reads, in at most three queries.

1. the global switch and the open order count, as two scalar subqueries of one ``SELECT``;
2. today's fills (``since <= ts <= now``, served by ``ix_fills_ts``), in time order;
3. for the symbols traded today, the count and newest id of their fills before ``since``
   (answered from ``ix_fills_symbol_ts_id`` alone), aggregated in SQL.

Today's realised P&L needs each symbol's position before the day (average-cost method), which
depends on its whole history but is fixed once the day has begun. It is computed once per
symbol and trading day from that history and kept, with the count and newest id of the fills
it was computed from; query 3 tells whether those fills changed (a late fill back-dated before
``since``), and only then is the history of that symbol read again. Fills are never updated,
so count and newest id identify the history.

The governed check's book (:meth:`GuardRepository.governor_book`, and the reservation when a
limit needs positions) is the replay of every fill in time order, read as the book at the
start of the trading day plus today's fills: the day-start book (positions, newest marks,
realised P&L) is computed once and kept with the count and newest id of the fills before the
day; a new day replays only the fills since the previous start, and only a fill back-dated
before the kept start replays the history again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.domain.orders import OrderStatus
from app.errors import StorageError
from app.risk.governor import BookPosition, GovernorBook, GovernorDecision, GovernorState
from app.risk.pnl import (
    FillRow,
    OpenPosition,
    open_positions,
    realised_pnl,
    realised_pnl_by_symbol,
    replay,
)
from app.risk.ports import GuardSnapshot, Reservation, SnapshotQuery
from app.storage.db import Database
from app.storage.models import Fill, KillSwitchEvent, KillSwitchState, Order, OrderReservation
from app.storage.repositories.kill_switch import SWITCH_ID, KillSwitchRepository

__all__ = ["OPEN_STATUSES", "RESERVATION_RETENTION", "GuardRepository"]

OPEN_STATUSES = tuple(status.value for status in OrderStatus if not status.is_terminal)
"""Statuses that count towards ``KILL_SWITCH_MAX_OPEN_ORDERS``."""

RESERVATION_RETENTION = timedelta(days=7)
"""How long an expired reservation whose order was never written is kept: it no longer counts
as open, but it names an order ai-trader may have placed, which reconciliation asks the broker
about before it adopts a position in that symbol (a fill whose event is still on its way)."""

_KEPT_DAYS = 2  # trading days whose opening positions are kept (today and, around midnight, yesterday)

_fills = cast(Table, Fill.__table__)
_orders = cast(Table, Order.__table__)
_switch = cast(Table, KillSwitchState.__table__)
_reservations = cast(Table, OrderReservation.__table__)
_events = cast(Table, KillSwitchEvent.__table__)

GOVERNOR_LOCK_KEY = 0x61695F676F76  # pg_advisory_xact_lock key of governed checks ("ai_gov")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = Decimal(0)
_FILL_COLUMNS = (_fills.c.symbol, _fills.c.side, _fills.c.qty, _fills.c.price, _fills.c.fee, _fills.c.ts)


@dataclass(frozen=True, slots=True)
class _DayStart:
    """The book before a trading day (every fill before ``since``, in time order), and the
    count and newest id of those fills."""

    since: datetime
    count: int
    last_id: int | None
    positions: Mapping[str, OpenPosition] = field(default_factory=dict)
    marks: Mapping[str, Decimal] = field(default_factory=dict)
    realised: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Opening:
    """A symbol's position before a trading day, and the history it was computed from."""

    position: OpenPosition | None
    count: int
    last_id: int | None


class GuardRepository:
    """Reads :class:`~app.risk.ports.GuardSnapshot` values and records guard trips.

    Implements :class:`~app.risk.ports.GuardStore`. Keep one per process: it remembers each
    traded symbol's position before the trading day, so a check replays only today's fills.
    """

    def __init__(self, database: Database) -> None:
        self._db = database
        self.kill_switch = KillSwitchRepository(database)
        self._openings: dict[datetime, dict[str, _Opening]] = {}
        self._lock = threading.Lock()
        # governor_book's replay of the fills, kept while (day start, count, newest id) is unchanged
        self._fills_book: tuple[tuple[datetime, int, int | None], GovernorBook] | None = None
        # the book before the current trading day, which that replay starts from
        self._day_book: _DayStart | None = None

    def is_active(self) -> bool:
        """Whether the global kill switch is on (read now, for the last check before an order leaves)."""
        return self.kill_switch.is_active()

    def governor_state(self) -> GovernorState:
        """The governor's state now (HALTED when the switch is on), for the last check before an
        order leaves the process.

        Raises:
            StorageError: the database did not answer.
        """
        try:
            with self._db.engine.connect() as connection:
                row = connection.execute(
                    select(_switch.c.active, _switch.c.state).where(_switch.c.id == SWITCH_ID)
                ).first()
        except SQLAlchemyError as exc:
            raise StorageError(f"governor state unreadable: {type(exc).__name__}: {exc}") from exc
        return _state_of(row)

    def guard_snapshot(self, query: SnapshotQuery) -> GuardSnapshot:
        """Read the parts of the snapshot ``query`` asks for.

        Raises:
            StorageError: the database did not answer or lacks the tables; nothing is guessed.
        """
        try:
            with self._db.engine.connect() as connection:
                active, open_orders = self._state(connection, query.open_orders)
                if not query.realised_pnl:
                    return GuardSnapshot(kill_switch_active=active, open_orders=open_orders)
                today = self._todays_fills(connection, query)
                opening = self._opening_positions(connection, query.since, {row[0] for row in today})
        except SQLAlchemyError as exc:
            raise StorageError(f"guard snapshot unreadable: {type(exc).__name__}: {exc}") from exc
        return GuardSnapshot(
            kill_switch_active=active,
            open_orders=open_orders,
            realised_pnl=realised_pnl(today, query.since, opening),
            realised_pnl_by_symbol=realised_pnl_by_symbol(today, query.since, opening),
        )

    def record_trip(self, reason: str, *, detail: str = "", symbol: str | None = None) -> None:
        """Append one refused order to ``kill_switch_events``.

        Raises:
            StorageError: the database refused the write.
        """
        self.kill_switch.record_trip(reason, detail=detail, symbol=symbol)

    # --- the governed check ---------------------------------------------------------------
    def reserve(
        self,
        query: SnapshotQuery,
        reservation: Reservation,
        decide: Callable[[GuardSnapshot, GovernorBook | None], GovernorDecision],
        *,
        needs_book: bool,
    ) -> GovernorDecision:
        """Read, decide and reserve in one transaction that no other governed check interleaves.

        PostgreSQL: ``pg_advisory_xact_lock`` plus ``SELECT ... FOR UPDATE`` of the switch row;
        SQLite: ``BEGIN IMMEDIATE`` (one writer at a time). Reservations the order consumer has
        written (their ``client_order_id`` is in ``trading.orders``) and those expired for longer
        than :data:`RESERVATION_RETENTION` are dropped first; open orders count confirmed open
        orders plus live (not expired) reservations.

        Raises:
            StorageError: the database did not answer; nothing is reserved.
        """
        try:
            with self._db.engine.begin() as connection:
                if self._db.dialect == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GOVERNOR_LOCK_KEY})
                switch = connection.execute(
                    select(_switch.c.active, _switch.c.state, _switch.c.high_water_mark)
                    .where(_switch.c.id == SWITCH_ID)
                    .with_for_update()
                ).first()
                connection.execute(
                    delete(_reservations).where(
                        (_reservations.c.expires_at <= query.now - RESERVATION_RETENTION)
                        | _reservations.c.client_order_id.in_(select(_orders.c.client_order_id))
                        | (_reservations.c.client_order_id == reservation.client_order_id)
                    )
                )
                state = _state_of(switch)
                hwm = None if switch is None or switch[2] is None else Decimal(switch[2])
                confirmed = connection.execute(
                    select(func.count()).select_from(_orders).where(_orders.c.status.in_(OPEN_STATUSES))
                ).scalar_one()
                pending_rows = connection.execute(
                    select(_reservations.c.symbol, _reservations.c.side, _reservations.c.notional).where(
                        _reservations.c.expires_at > query.now
                    )
                ).all()
                open_orders = int(confirmed) + len(pending_rows)
                whole_book = needs_book or state == GovernorState.REDUCING
                realised: Decimal | None = None
                book = None
                if whole_book:  # positions of every symbol: the fills' replay, kept while they are unchanged
                    replayed = self._replayed(connection, query.now, query.since)
                    book = replace(
                        replayed,
                        state=state,
                        high_water_mark=hwm,
                        pending=_pending(pending_rows),
                        open_orders=open_orders,
                    )
                    realised = book.realised_today
                elif query.realised_pnl:  # today's fills and the kept opening positions, as guard_snapshot
                    today = self._todays_fills(connection, query)
                    opening = self._opening_positions(connection, query.since, {row[0] for row in today})
                    realised = realised_pnl(today, query.since, opening)
                snapshot = GuardSnapshot(
                    kill_switch_active=state == GovernorState.HALTED,
                    open_orders=open_orders,
                    realised_pnl=realised if query.realised_pnl else None,
                )
                decision = decide(snapshot, book)
                if decision.allowed:
                    connection.execute(
                        insert(_reservations).values(
                            client_order_id=reservation.client_order_id,
                            symbol=reservation.symbol,
                            side=reservation.side,
                            notional=reservation.notional,
                            created_at=query.now,
                            expires_at=reservation.expires_at,
                        )
                    )
                if decision.high_water_mark is not None and (hwm is None or decision.high_water_mark > hwm):
                    self._ensure_switch(connection, switch is not None, query.now)
                    connection.execute(
                        update(_switch)
                        .where(_switch.c.id == SWITCH_ID)
                        .values(high_water_mark=decision.high_water_mark)
                    )
                if decision.latch is not None and state == GovernorState.ACTIVE:
                    why, detail = decision.latched_by or (decision.reason, decision.detail)
                    self._ensure_switch(connection, True, query.now)
                    connection.execute(
                        update(_switch)
                        .where(_switch.c.id == SWITCH_ID)
                        .values(
                            state=decision.latch.value,
                            active=decision.latch == GovernorState.HALTED,
                            latched_reason=why,
                            reason=detail[:500],
                            actor="governor",
                            updated_at=query.now,
                        )
                    )
                    connection.execute(
                        insert(_events).values(
                            ts=query.now,
                            kind="set",
                            reason=decision.latch.value.lower(),
                            actor="governor",
                            detail=f"latched by {why}: {detail}",
                            symbol=reservation.symbol,
                        )
                    )
        except SQLAlchemyError as exc:
            raise StorageError(f"governed check failed: {type(exc).__name__}: {exc}") from exc
        return decision

    @staticmethod
    def _ensure_switch(connection: Connection, exists: bool, now: datetime) -> None:
        if (
            not exists
            and connection.execute(select(_switch.c.id).where(_switch.c.id == SWITCH_ID)).first() is None
        ):
            connection.execute(
                insert(_switch).values(id=SWITCH_ID, active=False, state="ACTIVE", updated_at=now)
            )

    def release(self, client_order_id: str) -> None:
        """Drop the reservation of an order that will not be written.

        Raises:
            StorageError: the database refused the write.
        """
        try:
            with self._db.engine.begin() as connection:
                connection.execute(
                    delete(_reservations).where(_reservations.c.client_order_id == client_order_id)
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"reservation not released: {type(exc).__name__}: {exc}") from exc

    def governor_book(self, now: datetime, since: datetime, starting_equity: Decimal) -> GovernorBook:
        """The book the governor would check against at ``now``, read without reserving anything.

        Positions from every fill up to ``now``, live reservations (not expired and not yet
        written by the order consumer), confirmed open orders, the switch's state and its
        high-water mark; ``since`` starts the trading day for ``realised_today``. The replay of
        the fills is kept while their count and newest id (up to ``now``) and ``since`` are
        unchanged (fills are never updated), so a repeated read costs a few small queries.

        Raises:
            StorageError: the database did not answer; nothing is guessed.
        """
        try:
            with self._db.engine.connect() as connection:
                switch = connection.execute(
                    select(_switch.c.active, _switch.c.state, _switch.c.high_water_mark).where(
                        _switch.c.id == SWITCH_ID
                    )
                ).first()
                confirmed = connection.execute(
                    select(func.count()).select_from(_orders).where(_orders.c.status.in_(OPEN_STATUSES))
                ).scalar_one()
                pending_rows = connection.execute(
                    select(_reservations.c.symbol, _reservations.c.side, _reservations.c.notional).where(
                        _reservations.c.expires_at > now,
                        _reservations.c.client_order_id.not_in(select(_orders.c.client_order_id)),
                    )
                ).all()
                replayed = self._replayed(connection, now, since)
        except SQLAlchemyError as exc:
            raise StorageError(f"governor book unreadable: {type(exc).__name__}: {exc}") from exc
        hwm = None if switch is None or switch[2] is None else Decimal(switch[2])
        return replace(
            replayed,
            state=_state_of(switch),
            high_water_mark=hwm,
            pending=_pending(pending_rows),
            open_orders=int(confirmed) + len(pending_rows),
            starting_equity=starting_equity,
        )

    def _replayed(self, connection: Connection, now: datetime, since: datetime) -> GovernorBook:
        """Positions and realised P&L from every fill up to ``now`` (``since`` starts the day).

        The same book as replaying every fill in time order, read as the book at the start of
        the day (kept, see :meth:`_day_start`) plus today's fills (``since <= ts <= now``) replayed
        on it. The result is kept while the fills' count and newest id (up to ``now``) and
        ``since`` are unchanged (fills are only ever inserted, never updated), so a check between
        two fills costs two index-only aggregates, and one after a new fill reads today's fills.
        """
        count, last_id = connection.execute(
            select(func.count(), func.max(_fills.c.id)).where(_fills.c.ts <= now)
        ).one()
        key = (since, int(count), last_id)
        with self._lock:
            kept = self._fills_book
        if kept is not None and kept[0] == key:
            return kept[1]
        cut = min(since, now)  # the day starts at ``since``; no fill after ``now`` counts
        start = self._day_start(connection, cut)
        today = _fill_rows(
            connection.execute(
                select(*_FILL_COLUMNS)
                .where(_fills.c.ts >= cut, _fills.c.ts <= now)
                .order_by(_fills.c.ts, _fills.c.id)
            )
        )
        positions = dict(start.positions)
        marks = dict(start.marks)
        realised_total = start.realised
        realised_today = _ZERO
        for _symbol, ts, net in replay(_marked(today, marks), positions):
            realised_total += net
            if ts >= since:
                realised_today += net
        replayed = GovernorBook(
            state=GovernorState.ACTIVE,
            positions={
                symbol: BookPosition(position.qty, position.avg_cost, marks.get(symbol))
                for symbol, position in positions.items()
            },
            realised_today=realised_today,
            realised_total=realised_total,
            starting_equity=_ZERO,
        )
        with self._lock:
            self._fills_book = (key, replayed)
        return replayed

    def _day_start(self, connection: Connection, since: datetime) -> _DayStart:
        """The book before ``since``: open positions, newest mark per symbol, realised P&L.

        Kept with the count and newest id of the fills before its ``since``. Unchanged: reused.
        For a later ``since`` (the next trading day) whose earlier fills are unchanged, only the
        fills between the two starts are replayed on it. Anything else (a fill back-dated
        before the kept start, or a first check) replays the history before ``since`` once.
        """
        count, last_id = self._count_before(connection, since)
        with self._lock:
            kept = self._day_book
        if kept is not None and (kept.since, kept.count, kept.last_id) == (since, count, last_id):
            return kept
        if kept is not None and kept.since < since and self._unchanged(connection, kept):
            base, lower = kept, kept.since
        else:
            base, lower = _DayStart(since=_EPOCH, count=0, last_id=None), None
        query = select(*_FILL_COLUMNS).where(_fills.c.ts < since)
        if lower is not None:
            query = query.where(_fills.c.ts >= lower)
        positions = dict(base.positions)
        marks = dict(base.marks)
        realised = base.realised
        rows = _fill_rows(connection.execute(query.order_by(_fills.c.ts, _fills.c.id)))
        for _symbol, _ts, net in replay(_marked(rows, marks), positions):
            realised += net
        start = _DayStart(
            since=since, count=count, last_id=last_id, positions=positions, marks=marks, realised=realised
        )
        with self._lock:
            self._day_book = start
        return start

    @classmethod
    def _unchanged(cls, connection: Connection, kept: _DayStart) -> bool:
        """Whether the fills before ``kept.since`` are still the ones ``kept`` was built from."""
        return cls._count_before(connection, kept.since) == (kept.count, kept.last_id)

    @staticmethod
    def _count_before(connection: Connection, since: datetime) -> tuple[int, int | None]:
        count, last_id = connection.execute(
            select(func.count(), func.max(_fills.c.id)).where(_fills.c.ts < since)
        ).one()
        return int(count), last_id

    # --- queries --------------------------------------------------------------------------
    @staticmethod
    def _state(connection: Connection, count_open: bool) -> tuple[bool, int | None]:
        active = select(_switch.c.active).where(_switch.c.id == SWITCH_ID).scalar_subquery()
        columns: list[Any] = [active]
        if count_open:
            columns.append(
                select(func.count())
                .select_from(_orders)
                .where(_orders.c.status.in_(OPEN_STATUSES))
                .scalar_subquery()
            )
        row = connection.execute(select(*columns)).one()
        return bool(row[0]), (int(row[1] or 0) if count_open else None)

    @staticmethod
    def _todays_fills(connection: Connection, query: SnapshotQuery) -> list[FillRow]:
        rows = connection.execute(
            select(_fills.c.symbol, _fills.c.side, _fills.c.qty, _fills.c.price, _fills.c.fee, _fills.c.ts)
            .where(_fills.c.ts >= query.since, _fills.c.ts <= query.now)
            .order_by(_fills.c.ts, _fills.c.id)
        )
        return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def _opening_positions(
        self, connection: Connection, since: datetime, symbols: set[str]
    ) -> dict[str, OpenPosition]:
        if not symbols:
            return {}
        ordered = sorted(symbols)
        history = connection.execute(
            select(_fills.c.symbol, func.count(), func.max(_fills.c.id))
            .where(_fills.c.ts < since, _fills.c.symbol.in_(ordered))
            .group_by(_fills.c.symbol)
        )
        current = {str(symbol): (int(count), last_id) for symbol, count, last_id in history}
        with self._lock:
            kept = dict(self._openings.get(since, {}))
        stale = [
            symbol
            for symbol in ordered
            if (entry := kept.get(symbol)) is None
            or (entry.count, entry.last_id) != current.get(symbol, (0, None))
        ]
        if stale:
            kept.update(self._read_openings(connection, since, stale))
            self._keep(since, kept)
        return {symbol: entry.position for symbol in ordered if (entry := kept[symbol]).position is not None}

    @staticmethod
    def _read_openings(connection: Connection, since: datetime, symbols: list[str]) -> dict[str, _Opening]:
        rows = connection.execute(
            select(
                _fills.c.symbol,
                _fills.c.side,
                _fills.c.qty,
                _fills.c.price,
                _fills.c.fee,
                _fills.c.ts,
                _fills.c.id,
            )
            .where(_fills.c.ts < since, _fills.c.symbol.in_(symbols))
            .order_by(_fills.c.ts, _fills.c.id)
        ).all()
        counts: dict[str, tuple[int, int | None]] = dict.fromkeys(symbols, (0, None))
        for row in rows:
            count, last_id = counts[row[0]]
            counts[row[0]] = (count + 1, row[6] if last_id is None else max(last_id, row[6]))
        positions = open_positions(_fill_rows(rows))
        return {
            symbol: _Opening(positions.get(symbol), count, last_id)
            for symbol, (count, last_id) in counts.items()
        }

    def _keep(self, since: datetime, openings: Mapping[str, _Opening]) -> None:
        with self._lock:
            self._openings[since] = dict(openings)
            for day in sorted(self._openings)[:-_KEPT_DAYS]:
                del self._openings[day]


def _state_of(switch: Any) -> GovernorState:
    """The governor state of the switch row (no row: ACTIVE); an unknown value raises."""
    if switch is None:
        return GovernorState.ACTIVE
    active, state = bool(switch[0]), switch[1]
    if active:
        return GovernorState.HALTED
    return GovernorState(state or GovernorState.ACTIVE)


def _pending(pending_rows: Iterable[Any]) -> dict[str, Decimal]:
    """Net notional of the live reservations per symbol (buys positive, sells negative)."""
    pending: dict[str, Decimal] = {}
    for symbol, side, notional in pending_rows:
        amount = Decimal(notional)
        pending[symbol] = pending.get(symbol, Decimal(0)) + (amount if side == "buy" else -amount)
    return pending


def _marked(rows: Iterable[FillRow], marks: dict[str, Decimal]) -> Iterator[FillRow]:
    """``rows`` unchanged, recording each one's price as its symbol's newest mark on the way."""
    for row in rows:
        marks[row[0]] = Decimal(row[3])
        yield row


def _fill_rows(rows: Iterable[Any]) -> Iterable[FillRow]:
    for row in rows:
        yield (row[0], row[1], row[2], row[3], row[4], row[5])
