"""The simulated broker's paper account in the database (``sim_accounts``, ``sim_positions``,
``sim_orders``, ``sim_prices``): one account every process shares.

Implements :class:`~app.portfolio.paper.PaperAccountStore`. A :meth:`transaction` takes the
account's lock first (PostgreSQL: ``SELECT ... FOR UPDATE`` of its ``sim_accounts`` row;
SQLite: ``BEGIN IMMEDIATE``, one writer at a time), then loads cash, positions, last prices
and the asked-for order reports, and on success writes back only what changed. Two processes
submitting at once therefore run one after the other on the same figures: neither can spend
buying power the other has just used, nor sell shares the other has just sold.

The account row is created on first use with the configured starting cash; after that the
stored cash is the truth (changing ``SIM_INITIAL_CASH`` later does not move it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.domain.orders import OrderEvent
from app.errors import InputError, RetryableError, StorageError
from app.portfolio import Position, PositionBook, money
from app.portfolio.paper import PaperAccountState
from app.storage.db import Database, is_transient_db_error
from app.storage.models import SimAccount, SimOrder, SimPosition, SimPrice
from app.storage.types import utcnow

__all__ = ["SimulatedAccountRepository"]

_accounts = cast(Table, SimAccount.__table__)
_positions = cast(Table, SimPosition.__table__)
_orders = cast(Table, SimOrder.__table__)
_prices = cast(Table, SimPrice.__table__)


def _map_error(exc: SQLAlchemyError, what: str) -> Exception:
    cause = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    if is_transient_db_error(exc):
        return RetryableError(f"{what}: database unavailable ({type(exc).__name__}: {cause})")
    return StorageError(f"{what}: {type(exc).__name__}: {cause}")


def _insert(connection: Connection) -> Any:
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


class SimulatedAccountRepository:
    """One paper account (``account``) stored in the database."""

    def __init__(self, db: Database, *, account: str, initial_cash: Decimal) -> None:
        if not account:
            raise InputError("account must not be empty")
        if not initial_cash.is_finite() or initial_cash <= 0:
            raise InputError(f"initial_cash must be a finite amount > 0, got {initial_cash}")
        self.db = db
        self.account = account
        self.initial_cash = money(initial_cash)

    # --- the store port -----------------------------------------------------------------
    @contextmanager
    def transaction(self, order_ids: Collection[str] = ()) -> Iterator[PaperAccountState]:
        """The account under its lock; changes are written when the block ends without an error.

        Raises:
            RetryableError | StorageError: the database did not answer or refused the write
                (nothing changed).
        """
        try:
            with self.db.engine.begin() as connection:
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                now = utcnow()
                connection.execute(
                    _insert(connection)(_accounts)
                    .values(account=self.account, cash=self.initial_cash, created_at=now, updated_at=now)
                    .on_conflict_do_nothing(index_elements=[_accounts.c.account])
                )
                cash = connection.execute(
                    select(_accounts.c.cash).where(_accounts.c.account == self.account).with_for_update()
                ).scalar_one()
                state = self._load(connection, cash, order_ids)
                positions_before = dict(state.book.positions)
                prices_before = dict(state.last_prices)
                orders_before = set(state.orders)
                yield state
                self._save(connection, state, positions_before, prices_before, orders_before, cash)
        except SQLAlchemyError as exc:
            raise _map_error(exc, f"paper account {self.account}") from exc

    def read(self) -> PaperAccountState:
        """Cash, positions and last prices as of one moment (``orders`` left empty).

        Raises:
            RetryableError | StorageError: the database did not answer.
        """
        try:
            with self.db.engine.connect() as connection:
                # one read snapshot for the three queries
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN")
                else:
                    connection.execution_options(isolation_level="REPEATABLE READ")
                cash = connection.execute(
                    select(_accounts.c.cash).where(_accounts.c.account == self.account)
                ).scalar()
                state = self._load(connection, self.initial_cash if cash is None else cash, ())
                connection.rollback()
                return state
        except SQLAlchemyError as exc:
            raise _map_error(exc, f"reading paper account {self.account}") from exc

    def find_order(self, client_order_id: str) -> OrderEvent | None:
        """The stored report of ``client_order_id``, or ``None``.

        Raises:
            RetryableError | StorageError: the database did not answer.
        """
        try:
            with self.db.engine.connect() as connection:
                found = self._reports(connection, (client_order_id,))
        except SQLAlchemyError as exc:
            raise _map_error(exc, f"finding order {client_order_id}") from exc
        return found.get(client_order_id)

    def orders(self) -> list[OrderEvent]:
        """Every report of the account, oldest first."""
        query = (
            select(_orders.c.report)
            .where(_orders.c.account == self.account)
            .order_by(_orders.c.created_at, _orders.c.client_order_id)
        )
        try:
            with self.db.engine.connect() as connection:
                return [OrderEvent.model_validate_json(row[0]) for row in connection.execute(query)]
        except SQLAlchemyError as exc:
            raise _map_error(exc, f"listing orders of paper account {self.account}") from exc

    # --- helpers ------------------------------------------------------------------------
    def _load(self, connection: Connection, cash: Decimal, order_ids: Collection[str]) -> PaperAccountState:
        positions = [
            Position(
                account=self.account,
                symbol=row.symbol,
                quantity=row.qty,
                cost_basis=row.cost_basis,
                realised_pnl=row.realised_pnl,
                fees=row.fees,
                last_fill_at=row.last_fill_ts,
            )
            for row in connection.execute(
                select(_positions).where(_positions.c.account == self.account).order_by(_positions.c.symbol)
            )
        ]
        prices = {
            str(row.symbol): Decimal(row.price)
            for row in connection.execute(select(_prices).where(_prices.c.account == self.account))
        }
        return PaperAccountState(
            book=PositionBook.of(positions, cash={self.account: cash}),
            orders=self._reports(connection, order_ids),
            last_prices=prices,
        )

    def _reports(self, connection: Connection, order_ids: Collection[str]) -> dict[str, OrderEvent]:
        ids = sorted(set(order_ids))
        if not ids:
            return {}
        rows = connection.execute(
            select(_orders.c.client_order_id, _orders.c.report).where(
                _orders.c.account == self.account, _orders.c.client_order_id.in_(ids)
            )
        )
        return {str(row[0]): OrderEvent.model_validate_json(row[1]) for row in rows}

    def _save(
        self,
        connection: Connection,
        state: PaperAccountState,
        positions_before: dict[tuple[str, str], Position],
        prices_before: dict[str, Decimal],
        orders_before: set[str],
        cash_before: Decimal,
    ) -> None:
        now = utcnow()
        insert = _insert(connection)
        cash = state.book.cash_of(self.account)
        if cash != cash_before:
            connection.execute(
                update(_accounts).where(_accounts.c.account == self.account).values(cash=cash, updated_at=now)
            )
        for key, position in sorted(state.book.positions.items()):
            if key[0] != self.account or positions_before.get(key) == position:
                continue
            values = {
                "qty": position.quantity,
                "cost_basis": position.cost_basis,
                "realised_pnl": position.realised_pnl,
                "fees": position.fees,
                "last_fill_ts": position.last_fill_at,
                "updated_at": now,
            }
            stmt = insert(_positions).values(account=self.account, symbol=position.symbol, **values)
            connection.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_positions.c.account, _positions.c.symbol], set_=values
                )
            )
        for symbol, price in sorted(state.last_prices.items()):
            if prices_before.get(symbol) == price:
                continue
            stmt = insert(_prices).values(account=self.account, symbol=symbol, price=price, updated_at=now)
            connection.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_prices.c.account, _prices.c.symbol],
                    set_={"price": price, "updated_at": now},
                )
            )
        for client_order_id, report in state.orders.items():
            if client_order_id in orders_before:
                continue
            connection.execute(
                insert(_orders).values(
                    account=self.account,
                    client_order_id=client_order_id,
                    symbol=report.symbol,
                    status=str(report.status),
                    report=report.model_dump_json(),
                    created_at=now,
                )
            )
