"""What a target-mode router run reads about its account, in one connection and three queries.

1. the account's rows of ``trading.positions`` (the book; every symbol, for the equity fallback);
2. ``trading.orders`` that are working in the symbol, or carry the run's ``client_order_id``;
3. live ``trading.order_reservations`` (admitted by the governor, not yet written by the order
   consumer) in the symbol, or under the run's ``client_order_id``.

Implements :class:`app.router.book.RouterBook`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, exists, select
from sqlalchemy.exc import SQLAlchemyError

from app.errors import StorageError
from app.portfolio.holdings import BookView, ExistingOrder, PendingOrder
from app.storage.db import Database
from app.storage.models import Order, OrderReservation, PositionRow
from app.storage.repositories.guard import OPEN_STATUSES
from app.storage.repositories.orders import position_from_row

__all__ = ["RouterBookRepository"]

_positions = cast(Table, PositionRow.__table__)
_orders = cast(Table, Order.__table__)
_reservations = cast(Table, OrderReservation.__table__)
_ZERO = Decimal(0)


class RouterBookRepository:
    """Reads the :class:`~app.router.book.BookView` of one run."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def view(self, account: str, symbol: str, client_order_id: str, now: datetime) -> BookView:
        """The account's book, the symbol's working orders and the order under ``client_order_id``.

        Raises:
            StorageError: the database did not answer or lacks the tables; nothing is guessed.
        """
        orders = (
            select(
                _orders.c.client_order_id,
                _orders.c.side,
                _orders.c.status,
                _orders.c.qty,
                _orders.c.notional,
                _orders.c.filled_qty,
                _orders.c.avg_fill_price,
            )
            .where(
                ((_orders.c.symbol == symbol) & _orders.c.status.in_(OPEN_STATUSES))
                | (_orders.c.client_order_id == client_order_id)
            )
            .order_by(_orders.c.id)
        )
        written = exists().where(_orders.c.client_order_id == _reservations.c.client_order_id)
        reservations = (
            select(_reservations.c.client_order_id, _reservations.c.side, _reservations.c.notional)
            .where(
                ((_reservations.c.symbol == symbol) | (_reservations.c.client_order_id == client_order_id))
                & (_reservations.c.expires_at > now)
                & ~written
            )
            .order_by(_reservations.c.client_order_id)
        )
        try:
            with self.db.engine.connect() as connection:
                positions = [
                    position_from_row(row._mapping)
                    for row in connection.execute(
                        select(_positions)
                        .where(_positions.c.account == account)
                        .order_by(_positions.c.symbol)
                    )
                ]
                order_rows = connection.execute(orders).all()
                reserved_rows = connection.execute(reservations).all()
        except SQLAlchemyError as exc:
            raise StorageError(f"the book of {account} is unreadable: {type(exc).__name__}: {exc}") from exc
        pending: list[PendingOrder] = []
        existing: ExistingOrder | None = None
        for cid, side, status, qty, notional, filled, avg_price in order_rows:
            if cid == client_order_id:
                existing = ExistingOrder(client_order_id=cid, status=status, source="orders", side=side)
            if status not in OPEN_STATUSES:
                continue
            filled = filled or _ZERO
            pending.append(
                PendingOrder(
                    client_order_id=cid,
                    side=side,
                    remaining_qty=None if qty is None else max(qty - filled, _ZERO),
                    remaining_notional=None
                    if notional is None
                    else max(notional - filled * (avg_price or _ZERO), _ZERO),
                )
            )
        for cid, side, notional in reserved_rows:
            if cid == client_order_id:
                if existing is None:
                    existing = ExistingOrder(
                        client_order_id=cid, status="reserved", source="reservation", side=side
                    )
                continue  # a run's own stale reservation is not a working order of another run
            pending.append(
                PendingOrder(client_order_id=cid, side=side, remaining_qty=None, remaining_notional=notional)
            )
        return BookView(
            account=account,
            symbol=symbol,
            positions=tuple(positions),
            pending=tuple(pending),
            existing=existing,
        )
