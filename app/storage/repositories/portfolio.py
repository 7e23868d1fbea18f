"""Portfolio repository: the stored book (``trading.positions``), reconciliation's adjusting
entries (``trading.position_adjustments``) and marked-to-market snapshots
(``trading.portfolio_snapshots``).

Fills reach ``trading.positions`` through :class:`~app.storage.repositories.orders.OrdersRepository`
(same transaction as the fills); this repository reads the book, records adjusting entries
and stores snapshots. Returns the pure domain's values (:class:`~app.portfolio.Position`,
:class:`~app.portfolio.PortfolioSnapshot`), never rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.domain.accounts import ACCOUNTS
from app.domain.orders import OrderStatus
from app.errors import InputError, RetryableError, StorageError
from app.portfolio import AdjustingEntry, PortfolioSnapshot, Position
from app.portfolio.attribution import AttributedFill
from app.storage.db import Database, is_transient_db_error
from app.storage.models import (
    Fill,
    Order,
    OrderReservation,
    PortfolioSnapshotRow,
    PositionAdjustment,
    PositionRow,
)
from app.storage.repositories.orders import position_from_row, position_values
from app.storage.types import utcnow

__all__ = ["MAX_HISTORY", "RECONCILE_SOURCE", "PortfolioRepository"]

MAX_HISTORY = 1000
"""Most snapshots one history read returns, whatever ``limit`` asks for."""

RECONCILE_SOURCE = "reconcile"

_positions = cast(Table, PositionRow.__table__)
_adjustments = cast(Table, PositionAdjustment.__table__)
_snapshots = cast(Table, PortfolioSnapshotRow.__table__)
_fills = cast(Table, Fill.__table__)
_orders = cast(Table, Order.__table__)
_reservations = cast(Table, OrderReservation.__table__)
_OPEN_STATUSES = tuple(status.value for status in OrderStatus if not status.is_terminal)

_SNAPSHOT_FIELDS = (
    "equity",
    "cash",
    "long_exposure",
    "short_exposure",
    "gross_exposure",
    "net_exposure",
    "realised_pnl",
    "unrealised_pnl",
    "high_water_mark",
    "drawdown",
    "drawdown_amount",
    "open_positions",
)


def _check_account(account: str) -> str:
    if account not in ACCOUNTS:
        raise InputError(f"account: must be one of {', '.join(ACCOUNTS)}, got {account!r}")
    return account


def _map_error(exc: SQLAlchemyError, what: str) -> Exception:
    cause = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    if is_transient_db_error(exc):
        return RetryableError(f"{what}: database unavailable ({type(exc).__name__}: {cause})")
    return StorageError(f"{what}: {type(exc).__name__}: {cause}")


def _key_filter(keys: Sequence[tuple[str, str]]) -> tuple[Any, Any]:
    return (
        _positions.c.account.in_(sorted({k[0] for k in keys})),
        _positions.c.symbol.in_(sorted({k[1] for k in keys})),
    )


def _snapshot(row: Any) -> PortfolioSnapshot:
    return PortfolioSnapshot(
        account=row["account"],
        at=row["ts"],
        **{name: row[name] for name in _SNAPSHOT_FIELDS},
    )


class PortfolioRepository:
    """Reads the book, applies reconciliation entries, stores and reads snapshots."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the book -----------------------------------------------------------------------
    def positions(self, account: str, *, include_flat: bool = False) -> list[Position]:
        """The account's positions by symbol (flat ones only with ``include_flat``).

        Raises:
            InputError: unknown account.
            RetryableError | StorageError: the database did not answer.
        """
        _check_account(account)
        query = select(_positions).where(_positions.c.account == account).order_by(_positions.c.symbol)
        with self._reading("reading positions") as connection:
            rows = [position_from_row(row._mapping) for row in connection.execute(query)]
        return rows if include_flat else [p for p in rows if not p.is_flat]

    def apply_adjustments(self, entries: Sequence[AdjustingEntry]) -> list[Position]:
        """Set the book to the broker's figures, recording each entry (source ``reconcile``).

        One transaction: the positions concerned are locked, each entry's ``quantity_before``
        is checked against the stored quantity (a fill that landed since the comparison
        makes the whole call fail, nothing written), then positions are set and the entries
        appended to ``trading.position_adjustments``. Realised P&L is kept.

        Raises:
            InputError: an entry is of an unknown account or the book moved since the entries
                were built (reconcile again).
            RetryableError | StorageError: the database did not answer or refused the write.
        """
        if not entries:
            return []
        now = utcnow()
        for entry in entries:
            _check_account(entry.account)
        keys = sorted({(e.account, e.symbol) for e in entries})
        changed: list[Position] = []
        try:
            with self.db.transaction() as session:
                connection = session.connection()
                self._seed(connection, keys, now)
                held = self._locked(connection, keys)
                for entry in entries:
                    row_id, current = held[(entry.account, entry.symbol)]
                    if current.quantity != entry.quantity_before:
                        raise InputError(
                            f"{entry.account}/{entry.symbol}: the book holds {current.quantity}, the entry "
                            f"expected {entry.quantity_before}; reconcile again"
                        )
                    updated = current.adjusted(entry.quantity_after, entry.average_cost_after)
                    held[(entry.account, entry.symbol)] = (row_id, updated)
                    connection.execute(
                        update(_positions)
                        .where(_positions.c.id == row_id)
                        .values(position_values(updated, RECONCILE_SOURCE, now))
                    )
                    connection.execute(
                        insert(_adjustments).values(
                            account=entry.account,
                            symbol=entry.symbol,
                            kind=entry.kind,
                            source=RECONCILE_SOURCE,
                            qty_before=entry.quantity_before,
                            qty_after=entry.quantity_after,
                            avg_cost_before=entry.average_cost_before,
                            avg_cost_after=entry.average_cost_after,
                            who=entry.who,
                            why=entry.why,
                            ts=entry.at,
                        )
                    )
                    changed.append(updated)
        except SQLAlchemyError as exc:
            raise _map_error(exc, f"applying {len(entries)} adjusting entries") from exc
        return changed

    def in_flight_symbols(self, now: datetime) -> set[str]:
        """Symbols with an order ai-trader placed that the book may not show yet: an order in
        ``trading.orders`` still open, or a governor reservation not yet expired at ``now``
        (admitted, its fills possibly still on the bus).

        Raises:
            RetryableError | StorageError: the database did not answer.
        """
        if now.tzinfo is None:
            raise InputError("now: must be timezone-aware")
        open_orders = select(_orders.c.symbol).where(_orders.c.status.in_(_OPEN_STATUSES)).distinct()
        reserved = select(_reservations.c.symbol).where(_reservations.c.expires_at > now).distinct()
        with self._reading("reading orders in flight") as connection:
            symbols = {str(row[0]) for row in connection.execute(open_orders)}
            symbols.update(str(row[0]) for row in connection.execute(reserved))
        return symbols

    def unwritten_orders(self, symbols: Collection[str]) -> list[str]:
        """``client_order_id`` of the orders the governor admitted in ``symbols`` that the order
        consumer has not written to ``trading.orders``, live or expired reservations alike
        (expired ones are kept a while, see
        :data:`~app.storage.repositories.guard.RESERVATION_RETENTION`), sorted.

        Raises:
            RetryableError | StorageError: the database did not answer.
        """
        if not symbols:
            return []
        written = select(_orders.c.client_order_id)
        query = (
            select(_reservations.c.client_order_id)
            .where(
                _reservations.c.symbol.in_(sorted(set(symbols))),
                _reservations.c.client_order_id.not_in(written),
            )
            .order_by(_reservations.c.client_order_id)
        )
        with self._reading("reading unwritten orders") as connection:
            return [str(row[0]) for row in connection.execute(query)]

    def open_order_count(self) -> int:
        """Orders in ``trading.orders`` still open (what ``KILL_SWITCH_MAX_OPEN_ORDERS`` counts).

        Raises:
            RetryableError | StorageError: the database did not answer.
        """
        query = select(func.count()).select_from(_orders).where(_orders.c.status.in_(_OPEN_STATUSES))
        with self._reading("counting open orders") as connection:
            return int(connection.execute(query).scalar_one())

    def adjustments(self, account: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The account's adjusting entries, newest first (at most :data:`MAX_HISTORY`)."""
        _check_account(account)
        size = self._limit(limit)
        query = (
            select(_adjustments)
            .where(_adjustments.c.account == account)
            .order_by(_adjustments.c.ts.desc(), _adjustments.c.id.desc())
            .limit(size)
        )
        with self._reading("reading adjusting entries") as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    @staticmethod
    def _seed(connection: Connection, keys: Sequence[tuple[str, str]], now: datetime) -> None:
        existing = {
            (row.account, row.symbol)
            for row in connection.execute(
                select(_positions.c.account, _positions.c.symbol).where(
                    _positions.c.account.in_({k[0] for k in keys}),
                    _positions.c.symbol.in_({k[1] for k in keys}),
                )
            )
        }
        zero = Decimal(0)
        missing = [
            {
                "account": account,
                "symbol": symbol,
                "qty": zero,
                "avg_cost": zero,
                "cost_basis": zero,
                "realised_pnl": zero,
                "fees": zero,
                "source": RECONCILE_SOURCE,
                "updated_at": now,
            }
            for account, symbol in keys
            if (account, symbol) not in existing
        ]
        if missing:
            connection.execute(insert(_positions), missing)

    @staticmethod
    def _locked(
        connection: Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, Position]]:
        wanted = set(keys)
        query = (
            select(_positions)
            .where(
                _positions.c.account.in_({k[0] for k in keys}), _positions.c.symbol.in_({k[1] for k in keys})
            )
            .order_by(_positions.c.account, _positions.c.symbol)
            .with_for_update()
        )
        held: dict[tuple[str, str], tuple[int, Position]] = {}
        for row in connection.execute(query):
            key = (row.account, row.symbol)
            if key in wanted:
                held[key] = (row.id, position_from_row(row._mapping))
        return held

    # --- snapshots ----------------------------------------------------------------------
    def save_snapshot(self, snapshot: PortfolioSnapshot) -> None:
        """Append ``snapshot`` to ``trading.portfolio_snapshots``.

        Raises:
            InputError: unknown account.
            RetryableError | StorageError: the database did not answer or refused the write.
        """
        _check_account(snapshot.account)
        values = {name: getattr(snapshot, name) for name in _SNAPSHOT_FIELDS}
        try:
            with self.db.transaction() as session:
                session.connection().execute(
                    insert(_snapshots).values(
                        account=snapshot.account, ts=snapshot.at, created_at=utcnow(), **values
                    )
                )
        except SQLAlchemyError as exc:
            raise _map_error(exc, "storing a portfolio snapshot") from exc

    def latest_snapshot(self, account: str, *, before: datetime | None = None) -> PortfolioSnapshot | None:
        """The newest snapshot (strictly before ``before`` when given), or ``None``."""
        _check_account(account)
        query = select(_snapshots).where(_snapshots.c.account == account)
        if before is not None:
            query = query.where(_snapshots.c.ts < before)
        query = query.order_by(_snapshots.c.ts.desc(), _snapshots.c.id.desc()).limit(1)
        with self._reading("reading the latest snapshot") as connection:
            row = connection.execute(query).first()
        return None if row is None else _snapshot(row._mapping)

    def first_snapshot_since(self, account: str, since: datetime) -> PortfolioSnapshot | None:
        """The oldest snapshot at or after ``since``, or ``None``."""
        _check_account(account)
        query = (
            select(_snapshots)
            .where(_snapshots.c.account == account, _snapshots.c.ts >= since)
            .order_by(_snapshots.c.ts, _snapshots.c.id)
            .limit(1)
        )
        with self._reading("reading snapshots") as connection:
            row = connection.execute(query).first()
        return None if row is None else _snapshot(row._mapping)

    def history(
        self, account: str, *, limit: int = 100, since: datetime | None = None, until: datetime | None = None
    ) -> list[PortfolioSnapshot]:
        """Snapshots newest first, at most ``limit`` (capped at :data:`MAX_HISTORY`).

        Raises:
            InputError: unknown account, ``limit`` < 1, or a naive ``since``/``until``.
        """
        _check_account(account)
        size = self._limit(limit)
        query = select(_snapshots).where(_snapshots.c.account == account)
        for name, bound in (("since", since), ("until", until)):
            if bound is not None and bound.tzinfo is None:
                raise InputError(f"{name}: must be timezone-aware")
        if since is not None:
            query = query.where(_snapshots.c.ts >= since)
        if until is not None:
            query = query.where(_snapshots.c.ts <= until)
        query = query.order_by(_snapshots.c.ts.desc(), _snapshots.c.id.desc()).limit(size)
        with self._reading("reading snapshots") as connection:
            return [_snapshot(row._mapping) for row in connection.execute(query)]

    # --- fills for attribution ----------------------------------------------------------
    def fills_version(self) -> tuple[int, int | None]:
        """The count and newest id of the stored fills: unchanged means the same fills (they
        are never updated), so a result computed from them can be kept.

        Raises:
            RetryableError | StorageError: the database did not answer.
        """
        with self._reading("reading fills") as connection:
            count, last_id = connection.execute(select(func.count(), func.max(_fills.c.id))).one()
        return int(count), None if last_id is None else int(last_id)

    def attributed_fills(self, *, until: datetime | None = None) -> list[AttributedFill]:
        """Every stored fill (up to ``until`` when given) with its order's strategy, in time order.

        The fills table holds the configured broker's fills (one account per deployment).

        Raises:
            InputError: a naive ``until``.
            RetryableError | StorageError: the database did not answer.
        """
        if until is not None and until.tzinfo is None:
            raise InputError("until: must be timezone-aware")
        query = select(
            _fills.c.id,
            _fills.c.venue_fill_id,
            _fills.c.symbol,
            _fills.c.side,
            _fills.c.qty,
            _fills.c.price,
            _fills.c.fee,
            _fills.c.ts,
            _orders.c.strategy,
        ).join(_orders, _orders.c.id == _fills.c.order_id)
        if until is not None:
            query = query.where(_fills.c.ts <= until)
        query = query.order_by(_fills.c.ts, _fills.c.id)
        with self._reading("reading fills") as connection:
            return [
                AttributedFill(
                    seq=int(row[0]),
                    fill_id=str(row[1]),
                    symbol=str(row[2]),
                    side=str(row[3]),
                    qty=Decimal(row[4]),
                    price=Decimal(row[5]),
                    fee=Decimal(row[6] or 0),
                    ts=row[7] if row[7].tzinfo is not None else row[7].replace(tzinfo=UTC),
                    strategy=row[8],
                )
                for row in connection.execute(query)
            ]

    # --- helpers ------------------------------------------------------------------------
    @staticmethod
    def _limit(limit: int) -> int:
        if limit < 1:
            raise InputError(f"limit: must be at least 1, got {limit}")
        return min(limit, MAX_HISTORY)

    @contextmanager
    def _reading(self, what: str) -> Iterator[Connection]:
        try:
            with self.db.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise _map_error(exc, what) from exc
