"""Orders and fills repository: idempotent upserts from ``exec.orders`` events, and the reads.

:meth:`OrdersRepository.apply` writes a batch of :class:`~app.domain.orders.OrderEvent` in one
transaction:

* each order is upserted by ``client_order_id`` with the dialect's
  ``INSERT ... ON CONFLICT DO UPDATE``; the stored status is replaced only by one of strictly
  higher :func:`~app.domain.orders.status_rank`, decided inside the statement, so a late or
  redelivered older report never moves an order backwards, whatever the interleaving;
* each fill is inserted with ``ON CONFLICT (order_id, venue_fill_id) DO NOTHING``, so a
  redelivered fill is stored once;
* ``filled_qty`` and ``avg_fill_price`` are recomputed from the stored fills of every order
  that received a new fill;
* the fills that were new (not stored before this transaction) are applied to the
  repository's account's ``trading.positions`` rows with the position book's arithmetic
  (:meth:`app.portfolio.Position.apply`), in the same transaction: a redelivered fill is not
  new, so the book is exactly-once like the fills. The position rows of the batch's symbols
  are locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transaction already
  serialises writers) before they are read, in symbol order.

The order upsert takes the row lock of each order before its fills are touched, so two
writers of the same order are serialised by the database and the recomputed totals always
see every committed fill. Rows are written in ``client_order_id`` order, which keeps the lock
order the same in every transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Select, String, Table, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from app.domain.accounts import ACCOUNTS
from app.domain.orders import FillPayload, OrderEvent, OrderStatus, status_rank, uncovered
from app.errors import InputError, NotFoundError, RetryableError, StorageError
from app.portfolio import BookFill, Position
from app.storage.db import Database, is_transient_db_error
from app.storage.models import Fill, Order, PositionRow
from app.storage.types import utcnow

__all__ = [
    "MAX_PAGE_SIZE",
    "ApplyResult",
    "FillView",
    "OrderDetail",
    "OrderView",
    "OrdersRepository",
    "Page",
    "SourcedOrderEvent",
]

log = logging.getLogger("app.storage.repositories.orders")

MAX_PAGE_SIZE = 500
"""Largest page the list queries return, whatever ``limit`` asks for."""

_MAX_ID = 2**63 - 1  # BIGINT
_PRICE_STEP = Decimal("1e-10")  # the scale of the Money column on PostgreSQL

T = TypeVar("T")

_orders = cast(Table, Order.__table__)
_fills = cast(Table, Fill.__table__)
_positions = cast(Table, PositionRow.__table__)


@dataclass(frozen=True, slots=True)
class SourcedOrderEvent:
    """An order event, the id of the bus event that carried it, and its JSON payload.

    ``payload`` (the envelope's already-parsed payload) is stored as the order's ``raw``
    column; without it the event is serialised again.
    """

    event: OrderEvent
    event_id: str | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    events: int
    orders: int
    fills_inserted: int
    fills_duplicate: int
    positions_updated: int = 0
    fills_covered: int = 0
    """Of ``fills_duplicate``: fills under a new id whose shares stored fills already count
    (an execution an inferred fill stood for, see :class:`_Coverage`)."""


@dataclass(frozen=True, slots=True)
class FillView:
    id: int
    order_id: int
    client_order_id: str
    venue_fill_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts: datetime


@dataclass(frozen=True, slots=True)
class OrderView:
    id: int
    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: str
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    strategy: str | None
    source_event_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OrderDetail:
    order: OrderView
    fills: list[FillView]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a newest-first listing; pass ``next_cursor`` back to get the next one."""

    items: list[T]
    next_cursor: str | None


_MERGED_FIELDS = ("strategy", "qty", "notional", "limit_price", "stop_price")
"""Order fields an event may leave out (an update often carries no strategy): a batch merges
them instead of taking them from its highest-status event, so an order's row never depends
on where the batch boundaries fell. The upsert keeps a stored strategy (``COALESCE``)."""


@dataclass(slots=True)
class _Folded:
    """Every event of one order within a batch, reduced to one row."""

    best: SourcedOrderEvent
    first_seen: datetime
    broker_order_id: str | None
    fills: dict[str, tuple[FillPayload, Any]] = field(default_factory=dict)
    known: dict[str, Any] = field(default_factory=dict)
    """The first non-null value of each of :data:`_MERGED_FIELDS` in the batch (arrival order)."""

    def merged(self, name: str) -> Any:
        """The field as stored: the first known strategy; the best event's sizing if it has it."""
        if name == "strategy":
            return self.known.get(name)
        value = getattr(self.best.event, name)
        return value if value is not None else self.known.get(name)


def _rank_sql(column: ColumnElement[Any]) -> ColumnElement[int]:
    ranks = {status.value: status_rank(status) for status in OrderStatus}
    terminal = max(ranks.values())
    return case({k: v for k, v in ranks.items() if v < terminal}, value=column, else_=terminal)


def _map_db_error(exc: SQLAlchemyError, what: str) -> Exception:
    """Classified by meaning (:func:`~app.storage.db.is_transient_db_error`): an outage, a
    read-only database, a serialisation failure or deadlock, an admin shutdown may pass
    (``RetryableError``); only a refusal of the data itself is a ``StorageError``."""
    cause = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    if is_transient_db_error(exc):
        return RetryableError(f"{what}: database unavailable ({type(exc).__name__}: {cause})")
    return StorageError(f"{what}: {type(exc).__name__}: {cause}")


def _encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        row_id = int(number)
        if prefix != "id" or not 0 < row_id <= _MAX_ID:
            raise ValueError(prefix)
        return row_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputError(f"cursor: not a cursor returned by this API ({cursor!r})") from None


class _Prepared:
    """A statement compiled once for the engine's dialect, run with ``executemany``.

    Values go through the columns' own bind processors (Money, UTC timestamps, JSON), as
    SQLAlchemy would apply them, without its per-row parameter bookkeeping.
    """

    def __init__(self, statement: Any, connection: Connection, types: dict[str, Any]) -> None:
        dialect = connection.dialect
        translate = connection.get_execution_options().get("schema_translate_map")
        compiled = statement.compile(
            dialect=dialect, schema_translate_map=translate, render_schema_translate=bool(translate)
        )
        self.sql: str = compiled.string
        self.order: list[str] | None = list(compiled.positiontup) if compiled.positional else None
        self.constants = {k: v for k, v in compiled.params.items() if k not in types}
        self.processors = {name: t.dialect_impl(dialect).bind_processor(dialect) for name, t in types.items()}
        self._known = frozenset(self.processors)
        # per placeholder: (column, its processor, whether it is a constant of the statement)
        self._plan: list[tuple[str, Any, bool]] = [
            (name, self.processors.get(name), name not in self.processors) for name in self.order or ()
        ]

    def run(self, connection: Connection, rows: list[dict[str, Any]]) -> int:
        processors = self.processors
        params: list[Any] = []
        if self.order is not None:
            known, plan, constants = self._known, self._plan, self.constants
            for row in rows:
                if not known.issuperset(row):  # a column the statement does not bind
                    raise KeyError(next(name for name in row if name not in known))
                values = []
                for name, process, constant in plan:
                    if constant:
                        values.append(constants[name])
                        continue
                    value = row[name]
                    values.append(value if process is None or value is None else process(value))
                params.append(tuple(values))
        else:
            for row in rows:
                named = dict(self.constants)
                for name, value in row.items():
                    process = processors[name]
                    named[name] = value if process is None or value is None else process(value)
                params.append(named)
        result = connection.exec_driver_sql(self.sql, params)
        return max(0, result.rowcount)


_ORDER_COLUMNS = (
    "client_order_id",
    "broker_order_id",
    "symbol",
    "side",
    "qty",
    "notional",
    "type",
    "time_in_force",
    "limit_price",
    "stop_price",
    "status",
    "filled_qty",
    "avg_fill_price",
    "strategy",
    "source_event_id",
    "created_at",
    "updated_at",
    "raw",
)
_POSITION_VALUE_COLUMNS = (
    "qty",
    "avg_cost",
    "cost_basis",
    "realised_pnl",
    "fees",
    "last_fill_ts",
    "source",
    "updated_at",
)
_POSITION_SEED_COLUMNS = (
    "account",
    "symbol",
    "qty",
    "avg_cost",
    "cost_basis",
    "realised_pnl",
    "fees",
    "source",
    "updated_at",
)


def position_from_row(row: Any) -> Position:
    """The book's :class:`~app.portfolio.Position` of one ``trading.positions`` row."""
    return Position(
        account=row["account"],
        symbol=row["symbol"],
        quantity=row["qty"],
        cost_basis=row["cost_basis"],
        realised_pnl=row["realised_pnl"],
        fees=row["fees"],
        last_fill_at=row["last_fill_ts"],
    )


def position_values(position: Position, source: str, now: datetime) -> dict[str, Any]:
    """The ``trading.positions`` values (all but the key) of ``position``."""
    return {
        "qty": position.quantity,
        "avg_cost": position.average_cost,
        "cost_basis": position.cost_basis,
        "realised_pnl": position.realised_pnl,
        "fees": position.fees,
        "last_fill_ts": position.last_fill_at,
        "source": source,
        "updated_at": now,
    }


_FILL_COLUMNS = (
    "order_id",
    "venue_fill_id",
    "symbol",
    "side",
    "qty",
    "price",
    "fee",
    "ts",
    "created_at",
    "raw",
    "cum_qty",
    "inferred",
)


@dataclass(slots=True)
class _FillCounts:
    inserted: int = 0
    """Rows written (an inferred fill spanning several gaps writes one row per gap)."""
    skipped: int = 0
    """Fills that wrote nothing: stored under their id, or all their shares already stored."""
    covered: int = 0
    """Of ``skipped``: fills with a new id whose shares other stored fills already count."""


@dataclass(frozen=True, slots=True)
class _Piece:
    """One row to insert: all or part of an offered fill."""

    venue_fill_id: str
    qty: Decimal
    price: Decimal
    cum_qty: Decimal | None


_FILL_ID_TYPE = _fills.c.venue_fill_id.type
assert isinstance(_FILL_ID_TYPE, String) and _FILL_ID_TYPE.length is not None
_MAX_FILL_ID: int = _FILL_ID_TYPE.length
"""The longest fill name the ``venue_fill_id`` column holds."""


def _piece_id(venue_fill_id: str, end: Decimal) -> str:
    """The name of the part of a fill that ends at the order's cumulative quantity ``end``."""
    name = f"{venue_fill_id}@{end.normalize():f}"
    if len(name) <= _MAX_FILL_ID:
        return name
    digest = hashlib.sha256(venue_fill_id.encode()).hexdigest()[:32]
    return f"{digest}@{end.normalize():f}"


@dataclass(slots=True)
class _Coverage:
    """The stored fills of one order, and which of its shares they cover.

    An order's shares are numbered by its cumulative filled quantity: an execution with
    ``cum_qty`` covers ``(cum_qty - qty, cum_qty]``. While every fill of the order carries
    ``cum_qty`` (Alpaca's do), :meth:`place` stores each share once:

    * a reported execution whose shares are all stored already (by an inferred fill, or by
      one recorded from another feed) is a duplicate; one partly stored (which a venue should
      never cause) writes only its uncovered part, at its price;
    * an inferred fill (the order had filled ``cum_qty`` at ``order_avg_price``) writes the
      parts of ``(0, cum_qty]`` nothing covers, one row per gap, priced so the order's value
      over ``(0, cum_qty]`` is ``cum_qty * order_avg_price``: its quantity is computed
      against what is stored and reported, not against the feed the adapter read.

    Reported executions are placed before inferred ones, lowest ``cum_qty`` first.
    Otherwise (the simulated brokers, rows stored without ``cum_qty``) fills are told apart by
    ``venue_fill_id`` only (:meth:`by_id`).
    """

    ids: set[str] = field(default_factory=set)
    spans: list[tuple[Decimal, Decimal, Decimal]] = field(default_factory=list)
    """(start, end, value) of each stored or placed fill with ``cum_qty``."""
    filled: Decimal = Decimal(0)
    value: Decimal = Decimal(0)
    tracked: bool = True
    """Whether every fill seen so far carries ``cum_qty``."""

    def add(self, venue_fill_id: str, qty: Decimal, price: Decimal, cum_qty: Decimal | None) -> None:
        self.ids.add(venue_fill_id)
        self.filled += qty
        self.value += qty * price
        if cum_qty is None:
            self.tracked = False
        else:
            self.spans.append((cum_qty - qty, cum_qty, qty * price))

    def _take(self, venue_fill_id: str, qty: Decimal, price: Decimal, cum_qty: Decimal | None) -> _Piece:
        self.add(venue_fill_id, qty, price, cum_qty)
        return _Piece(venue_fill_id, qty, price, cum_qty)

    def by_id(
        self, offered: list[tuple[FillPayload, Any]], counts: _FillCounts
    ) -> list[tuple[FillPayload, Any, _Piece]]:
        pieces = []
        for fill, raw in sorted(offered, key=lambda item: item[0].venue_fill_id):
            if fill.venue_fill_id in self.ids:
                counts.skipped += 1
                continue
            pieces.append((fill, raw, self._take(fill.venue_fill_id, fill.qty, fill.price, fill.cum_qty)))
        return pieces

    def place(
        self, client_order_id: str, offered: list[tuple[FillPayload, Any]], counts: _FillCounts
    ) -> list[tuple[FillPayload, Any, _Piece]]:
        def order(item: tuple[FillPayload, Any]) -> tuple[bool, Decimal, str]:
            fill = item[0]
            return fill.inferred, fill.cum_qty or Decimal(0), fill.venue_fill_id

        pieces: list[tuple[FillPayload, Any, _Piece]] = []
        for fill, raw in sorted(offered, key=order):
            assert fill.cum_qty is not None  # place() is only called when every fill has it
            if fill.inferred:
                taken = self._inferred(client_order_id, fill)
            elif fill.venue_fill_id in self.ids:
                taken = []
            else:
                taken = self._reported(client_order_id, fill)
            if not taken:
                counts.skipped += 1
                counts.covered += fill.venue_fill_id not in self.ids
            pieces.extend((fill, raw, piece) for piece in taken)
        return pieces

    def _gaps(self, low: Decimal, high: Decimal) -> list[tuple[Decimal, Decimal]]:
        return uncovered(((start, end) for start, end, _ in self.spans), low, high)

    def _named(self, venue_fill_id: str, gaps: list[tuple[Decimal, Decimal]]) -> list[str]:
        """A fresh name per gap: the fill's own for the highest gap while it is free."""
        names = [_piece_id(venue_fill_id, end) for _, end in gaps]
        if venue_fill_id not in self.ids:
            names[-1] = venue_fill_id
        return names

    def _reported(self, client_order_id: str, fill: FillPayload) -> list[_Piece]:
        span = fill.span
        assert span is not None
        gaps = self._gaps(*span)
        if gaps == [span]:
            return [self._take(fill.venue_fill_id, fill.qty, fill.price, fill.cum_qty)]
        if gaps:
            log.warning(
                "order %s: execution %s overlaps stored fills; only its uncovered part is counted",
                client_order_id,
                fill.venue_fill_id,
                extra={"gaps": [[str(a), str(b)] for a, b in gaps]},
            )
        names = self._named(fill.venue_fill_id, gaps) if gaps else []
        return [
            self._take(name, end - start, fill.price, end)
            for name, (start, end) in zip(names, gaps, strict=True)
        ]

    def _inferred(self, client_order_id: str, fill: FillPayload) -> list[_Piece]:
        assert fill.cum_qty is not None and fill.order_avg_price is not None
        top = fill.cum_qty
        gaps = self._gaps(Decimal(0), top)
        if not gaps:
            return []
        rest = sum((end - start for start, end in gaps), Decimal(0))
        known = Decimal(0)
        for start, end, value in self.spans:
            inside = min(end, top) - start
            if inside > 0:
                known += value if end <= top else value * inside / (end - start)
        price = ((top * fill.order_avg_price - known) / rest).quantize(_PRICE_STEP)
        if price <= 0:
            log.warning(
                "order %s: stored fills are worth more than the venue's average allows; "
                "the inferred %s shares are priced at the average",
                client_order_id,
                rest,
            )
            price = fill.order_avg_price
        names = self._named(fill.venue_fill_id, gaps)
        return [
            self._take(name, end - start, price, end) for name, (start, end) in zip(names, gaps, strict=True)
        ]


def _piece_fee(fill: FillPayload, piece: _Piece) -> Decimal:
    """The part of ``fill``'s fee its ``piece`` carries: in proportion to its quantity, so a
    fill stored in parts (or only its uncovered part) never charges its fee twice."""
    if piece.qty == fill.qty or fill.fee == 0:
        return fill.fee
    return (fill.fee * piece.qty / fill.qty).quantize(_PRICE_STEP)


class OrdersRepository:
    """Writes and reads ``trading.orders`` and ``trading.fills``; returns frozen views, never rows."""

    def __init__(self, db: Database, *, account: str = "simulated") -> None:
        """``account`` is the book (``trading.positions``) the fills of this process belong to.

        Raises:
            InputError: ``account`` is not one of :data:`~app.domain.accounts.ACCOUNTS`.
        """
        if account not in ACCOUNTS:
            raise InputError(f"account: must be one of {', '.join(ACCOUNTS)}, got {account!r}")
        self.db = db
        self.account = account
        self._prepared: dict[str, _Prepared] = {}

    # --- writes -------------------------------------------------------------------------
    def apply(self, events: Sequence[SourcedOrderEvent]) -> ApplyResult:
        """Upsert the orders and insert the fills of ``events`` in one transaction.

        Applying the same events again, in any grouping, leaves the tables unchanged apart
        from ``updated_at``.

        Raises:
            RetryableError: the database is unreachable, locked or chose this transaction
                as a deadlock victim; nothing was written.
            StorageError: the database refused the data; nothing was written.
        """
        if not events:
            return ApplyResult(0, 0, 0, 0)
        folded = self._fold(events)
        try:
            with self.db.transaction() as session:
                connection = session.connection()
                ids = self._upsert_orders(connection, folded)
                counts, new_fills = self._insert_fills(connection, folded, ids)
                positions = self._apply_to_positions(connection, new_fills)
        except SQLAlchemyError as exc:
            raise _map_db_error(exc, f"writing {len(events)} order events") from exc
        return ApplyResult(
            len(events), len(folded), counts.inserted, counts.skipped, positions, counts.covered
        )

    @staticmethod
    def _fold(events: Sequence[SourcedOrderEvent]) -> dict[str, _Folded]:
        folded: dict[str, _Folded] = {}
        for sourced in events:
            event = sourced.event
            entry = folded.get(event.client_order_id)
            if entry is None:
                entry = _Folded(sourced, event.ts, event.broker_order_id)
                folded[event.client_order_id] = entry
            else:
                if status_rank(event.status) > status_rank(entry.best.event.status):
                    entry.best = sourced
                entry.first_seen = min(entry.first_seen, event.ts)
                if event.broker_order_id is not None:
                    entry.broker_order_id = event.broker_order_id
            for name in _MERGED_FIELDS:
                value = getattr(event, name)
                if value is not None:
                    entry.known.setdefault(name, value)
            raw_fills = sourced.payload.get("fills") if sourced.payload is not None else None
            for index, fill in enumerate(event.fills):
                raw = raw_fills[index] if isinstance(raw_fills, list) else None
                kept = entry.fills.get(fill.venue_fill_id)
                if kept is None or (kept[0].inferred and not fill.inferred):  # a reported execution wins
                    entry.fills[fill.venue_fill_id] = (fill, raw)
        return dict(sorted(folded.items()))

    def _statement(self, name: str, connection: Connection) -> _Prepared:
        prepared = self._prepared.get(name)
        if prepared is None:
            prepared = self._prepared[name] = self._prepare(name, connection)
        return prepared

    def _prepare(self, name: str, connection: Connection) -> _Prepared:
        postgres = connection.dialect.name == "postgresql"
        insert = postgresql.insert if postgres else sqlite.insert
        if name == "orders":
            stmt = insert(_orders).values({c: bindparam(c, type_=_orders.c[c].type) for c in _ORDER_COLUMNS})
            new = stmt.excluded
            advances = _rank_sql(new.status) > _rank_sql(_orders.c.status)
            earliest = func.least if postgres else func.min
            upsert = stmt.on_conflict_do_update(
                index_elements=[_orders.c.client_order_id],
                set_={
                    "status": case((advances, new.status), else_=_orders.c.status),
                    "source_event_id": case((advances, new.source_event_id), else_=_orders.c.source_event_id),
                    "raw": case((advances, new.raw), else_=_orders.c.raw),
                    "broker_order_id": func.coalesce(new.broker_order_id, _orders.c.broker_order_id),
                    "strategy": func.coalesce(_orders.c.strategy, new.strategy),
                    "created_at": earliest(_orders.c.created_at, new.created_at),
                    "updated_at": new.updated_at,
                },
            )
            return _Prepared(upsert, connection, {c: _orders.c[c].type for c in _ORDER_COLUMNS})
        if name == "position_seed":
            stmt = insert(_positions).values(
                {c: bindparam(c, type_=_positions.c[c].type) for c in _POSITION_SEED_COLUMNS}
            )
            seed = stmt.on_conflict_do_nothing(index_elements=[_positions.c.account, _positions.c.symbol])
            return _Prepared(seed, connection, {c: _positions.c[c].type for c in _POSITION_SEED_COLUMNS})
        if name == "position_update":
            types = {f"p_{c}": _positions.c[c].type for c in ("id", *_POSITION_VALUE_COLUMNS)}
            change = (
                update(_positions)
                .where(_positions.c.id == bindparam("p_id", type_=_positions.c.id.type))
                .values({c: bindparam(f"p_{c}", type_=_positions.c[c].type) for c in _POSITION_VALUE_COLUMNS})
            )
            return _Prepared(change, connection, types)
        if name == "fills":
            stmt = insert(_fills).values({c: bindparam(c, type_=_fills.c[c].type) for c in _FILL_COLUMNS})
            ignore = stmt.on_conflict_do_nothing(index_elements=[_fills.c.order_id, _fills.c.venue_fill_id])
            return _Prepared(ignore, connection, {c: _fills.c[c].type for c in _FILL_COLUMNS})
        totals = (
            update(_orders)
            .where(_orders.c.id == bindparam("b_id", type_=_orders.c.id.type))
            .values(
                filled_qty=bindparam("b_filled", type_=_orders.c.filled_qty.type),
                avg_fill_price=bindparam("b_avg", type_=_orders.c.avg_fill_price.type),
                updated_at=bindparam("b_now", type_=_orders.c.updated_at.type),
            )
        )
        types = {
            "b_id": _orders.c.id.type,
            "b_filled": _orders.c.filled_qty.type,
            "b_avg": _orders.c.avg_fill_price.type,
            "b_now": _orders.c.updated_at.type,
        }
        return _Prepared(totals, connection, types)

    def _upsert_orders(self, connection: Connection, folded: dict[str, _Folded]) -> dict[str, int]:
        now = utcnow()
        rows = []
        for client_order_id, entry in folded.items():
            event = entry.best.event
            rows.append(
                {
                    "client_order_id": client_order_id,
                    "broker_order_id": entry.broker_order_id,
                    "symbol": event.symbol,
                    "side": str(event.side),
                    "qty": entry.merged("qty"),
                    "notional": entry.merged("notional"),
                    "type": str(event.type),
                    "time_in_force": event.time_in_force,
                    "limit_price": entry.merged("limit_price"),
                    "stop_price": entry.merged("stop_price"),
                    "status": str(event.status),
                    "filled_qty": Decimal(0),
                    "avg_fill_price": None,
                    "strategy": entry.merged("strategy"),
                    "source_event_id": entry.best.event_id,
                    "created_at": entry.first_seen,
                    "updated_at": now,
                    "raw": _raw_order(entry.best),
                }
            )
        self._statement("orders", connection).run(connection, rows)
        keys = list(folded)
        found = connection.execute(
            select(_orders.c.id, _orders.c.client_order_id).where(_orders.c.client_order_id.in_(keys))
        )
        return {client_order_id: order_id for order_id, client_order_id in found}

    def _insert_fills(
        self, connection: Connection, folded: dict[str, _Folded], ids: dict[str, int]
    ) -> tuple[_FillCounts, list[BookFill]]:
        """Insert the batch's fills; return the counts and the fills that were new.

        The stored fills of the touched orders are read first (their order rows are locked by
        the upsert, so no other writer adds fills to them meanwhile): a fill not among them is
        new, and the orders' totals are the stored fills plus the new ones. For an order whose
        fills all carry ``cum_qty``, a fill is new only for the shares no stored fill covers
        (see :class:`_Coverage`).
        """
        touched = [ids[cid] for cid, entry in folded.items() if entry.fills]
        counts = _FillCounts()
        if not touched:
            return counts, []
        stored: dict[int, _Coverage] = {oid: _Coverage() for oid in touched}
        query = select(
            _fills.c.order_id, _fills.c.venue_fill_id, _fills.c.qty, _fills.c.price, _fills.c.cum_qty
        ).where(_fills.c.order_id.in_(touched))
        for order_id, venue_fill_id, qty, price, cum_qty in connection.execute(query):
            stored[order_id].add(venue_fill_id, qty, price, cum_qty)
        now = utcnow()
        rows: list[dict[str, Any]] = []
        new_fills: list[BookFill] = []
        for client_order_id, entry in folded.items():
            if not entry.fills:
                continue
            event = entry.best.event
            order_id = ids[client_order_id]
            coverage = stored[order_id]
            offered = list(entry.fills.values())
            if coverage.tracked and all(fill.cum_qty is not None for fill, _ in offered):
                pieces = coverage.place(client_order_id, offered, counts)
            else:
                pieces = coverage.by_id(offered, counts)
            for fill, raw, piece in pieces:
                fee = _piece_fee(fill, piece)
                rows.append(
                    {
                        "order_id": order_id,
                        "venue_fill_id": piece.venue_fill_id,
                        "symbol": event.symbol,
                        "side": str(event.side),
                        "qty": piece.qty,
                        "price": piece.price,
                        "fee": fee,
                        "ts": fill.ts,
                        "created_at": now,
                        "raw": raw if raw is not None else fill.model_dump(mode="json"),
                        "cum_qty": piece.cum_qty,
                        "inferred": fill.inferred,
                    }
                )
                new_fills.append(
                    BookFill(
                        account=self.account,
                        symbol=event.symbol,
                        side=event.side,
                        quantity=piece.qty,
                        price=piece.price,
                        fee=fee,
                        ts=fill.ts,
                        fill_id=f"{client_order_id}/{piece.venue_fill_id}",
                    )
                )
        if rows:
            counts.inserted = self._statement("fills", connection).run(connection, rows)
            self._write_totals(connection, {oid: (stored[oid].filled, stored[oid].value) for oid in touched})
        if counts.covered:
            log.info(
                "fills whose shares were already stored were not counted again",
                extra={"covered": counts.covered, "orders": len(touched)},
            )
        return counts, new_fills

    def _write_totals(self, connection: Connection, totals: dict[int, tuple[Decimal, Decimal]]) -> None:
        now = utcnow()
        params = [
            {
                "b_id": order_id,
                "b_filled": filled,
                "b_avg": (value / filled).quantize(_PRICE_STEP) if filled else None,
                "b_now": now,
            }
            for order_id, (filled, value) in totals.items()
        ]
        self._statement("totals", connection).run(connection, params)

    def _apply_to_positions(self, connection: Connection, fills: list[BookFill]) -> int:
        """Apply the new ``fills`` to the account's position rows; return how many rows changed."""
        if not fills:
            return 0
        now = utcnow()
        symbols = sorted({f.symbol for f in fills})
        zero = Decimal(0)
        seeds = [
            {
                "account": self.account,
                "symbol": symbol,
                "qty": zero,
                "avg_cost": zero,
                "cost_basis": zero,
                "realised_pnl": zero,
                "fees": zero,
                "source": "fills",
                "updated_at": now,
            }
            for symbol in symbols
        ]
        self._statement("position_seed", connection).run(connection, seeds)
        query = (
            select(_positions)
            .where(_positions.c.account == self.account, _positions.c.symbol.in_(symbols))
            .order_by(_positions.c.symbol)
            .with_for_update()
        )
        held: dict[str, tuple[int, Position]] = {}
        for row in connection.execute(query):
            held[row.symbol] = (row.id, position_from_row(row._mapping))
        for fill in sorted(fills, key=lambda f: (f.ts, f.fill_id)):
            row_id, position = held[fill.symbol]
            held[fill.symbol] = (row_id, position.apply(fill).position)
        params = [
            {f"p_{name}": value for name, value in position_values(position, "fills", now).items()}
            | {"p_id": row_id}
            for row_id, position in held.values()
        ]
        self._statement("position_update", connection).run(connection, params)
        return len(params)

    # --- reads --------------------------------------------------------------------------
    def list_orders(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        symbol: str | None = None,
        status: OrderStatus | None = None,
        since: datetime | None = None,
    ) -> Page[OrderView]:
        """Orders newest first (by the order they were first recorded), filtered.

        ``since`` keeps orders first observed at or after that time; ``limit`` is capped at
        :data:`MAX_PAGE_SIZE`.

        Raises:
            InputError: ``cursor`` was not produced by this repository, or ``limit`` < 1.
        """
        query = select(_orders)
        if symbol is not None:
            query = query.where(_orders.c.symbol == symbol.strip().upper())
        if status is not None:
            query = query.where(_orders.c.status == status.value)
        if since is not None:
            query = query.where(_orders.c.created_at >= since)
        size = self._page_size(limit)
        rows = self._page(query, _orders.c.id, size, cursor)
        items = [_order_view(row._mapping) for row in rows]
        return Page(items[:size], self._next(items, size))

    def get_order(self, ref: str) -> OrderDetail:
        """One order with its fills (oldest first), by numeric id or by ``client_order_id``.

        Raises:
            NotFoundError: no order has that id or client order id.
        """
        with self._reading("reading an order") as connection:
            row = None
            if ref.isdigit() and int(ref) <= _MAX_ID:
                row = connection.execute(select(_orders).where(_orders.c.id == int(ref))).first()
            if row is None:
                row = connection.execute(select(_orders).where(_orders.c.client_order_id == ref)).first()
            if row is None:
                raise NotFoundError(f"order not found: {ref!r}")
            order = _order_view(row._mapping)
            fills = connection.execute(
                self._fill_query().where(_fills.c.order_id == order.id).order_by(_fills.c.ts, _fills.c.id)
            ).all()
        return OrderDetail(order, [_fill_view(f._mapping) for f in fills])

    def list_fills(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        symbol: str | None = None,
        order_id: int | None = None,
        since: datetime | None = None,
    ) -> Page[FillView]:
        """Fills newest first (by the order they were recorded), filtered.

        ``since`` keeps fills executed at or after that time.

        Raises:
            InputError: ``cursor`` was not produced by this repository, or ``limit`` < 1.
        """
        query = self._fill_query()
        if symbol is not None:
            query = query.where(_fills.c.symbol == symbol.strip().upper())
        if order_id is not None:
            query = query.where(_fills.c.order_id == order_id)
        if since is not None:
            query = query.where(_fills.c.ts >= since)
        size = self._page_size(limit)
        rows = self._page(query, _fills.c.id, size, cursor)
        items = [_fill_view(row._mapping) for row in rows]
        return Page(items[:size], self._next(items, size))

    @staticmethod
    def _fill_query() -> Select[Any]:
        return select(_fills, _orders.c.client_order_id).join(_orders, _orders.c.id == _fills.c.order_id)

    @staticmethod
    def _page_size(limit: int) -> int:
        if limit < 1:
            raise InputError(f"limit: must be at least 1, got {limit}")
        return min(limit, MAX_PAGE_SIZE)

    def _page(self, query: Select[Any], key: Any, limit: int, cursor: str | None) -> list[Any]:
        if cursor is not None:
            query = query.where(key < _decode_cursor(cursor))
        query = query.order_by(key.desc()).limit(limit + 1)
        with self._reading("listing") as connection:
            return list(connection.execute(query).all())

    @staticmethod
    def _next(items: Sequence[OrderView | FillView], limit: int) -> str | None:
        return _encode_cursor(items[limit - 1].id) if len(items) > limit else None

    @contextmanager
    def _reading(self, what: str) -> Iterator[Connection]:
        try:
            with self.db.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise _map_db_error(exc, what) from exc


def _raw_order(sourced: SourcedOrderEvent) -> dict[str, Any]:
    if sourced.payload is None:
        return sourced.event.model_dump(mode="json", exclude={"fills"})
    return {key: value for key, value in sourced.payload.items() if key != "fills"}


def _order_view(row: Any) -> OrderView:
    return OrderView(**{name: row[name] for name in OrderView.__slots__})


def _fill_view(row: Any) -> FillView:
    return FillView(**{name: row[name] for name in FillView.__slots__})
