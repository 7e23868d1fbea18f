"""The target-mode router's view of the book on SQLite and PostgreSQL: holdings, working orders,
live reservations and the order already known under a run's client_order_id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.errors import StorageError
from app.storage.db import Database
from app.storage.models import Order, OrderReservation, PositionRow
from app.storage.repositories.router_book import RouterBookRepository

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
PRICE = Decimal(50)


def _seed(db: Database) -> None:
    with db.transaction() as session:
        session.add_all(
            [
                PositionRow(
                    account="simulated",
                    symbol="AAPL",
                    qty=Decimal(30),
                    avg_cost=Decimal(40),
                    cost_basis=Decimal(1200),
                    realised_pnl=Decimal(15),
                ),
                PositionRow(
                    account="simulated",
                    symbol="MSFT",
                    qty=Decimal(-5),
                    avg_cost=Decimal(100),
                    cost_basis=Decimal(-500),
                ),
                PositionRow(
                    account="alpaca-paper",
                    symbol="AAPL",
                    qty=Decimal(999),
                    avg_cost=Decimal(1),
                    cost_basis=Decimal(999),
                ),
                # working: 10 bought of 25 -> 15 still to come
                Order(
                    client_order_id="o-partial",
                    symbol="AAPL",
                    side="buy",
                    qty=Decimal(25),
                    filled_qty=Decimal(10),
                    status="partially_filled",
                ),
                # a working notional sell of 500 at 50 -> 10 shares to go
                Order(
                    client_order_id="o-notional",
                    symbol="AAPL",
                    side="sell",
                    notional=Decimal(500),
                    status="accepted",
                ),
                # done, other symbol: not pending
                Order(
                    client_order_id="o-done",
                    symbol="AAPL",
                    side="buy",
                    qty=Decimal(7),
                    filled_qty=Decimal(7),
                    status="filled",
                ),
                Order(client_order_id="o-msft", symbol="MSFT", side="buy", qty=Decimal(3), status="new"),
                # admitted, not yet written: a buy of 250 -> 5 shares
                OrderReservation(
                    client_order_id="r-live",
                    symbol="AAPL",
                    side="buy",
                    notional=Decimal(250),
                    created_at=NOW,
                    expires_at=NOW + timedelta(minutes=5),
                ),
                OrderReservation(
                    client_order_id="r-expired",
                    symbol="AAPL",
                    side="buy",
                    notional=Decimal(10_000),
                    created_at=NOW - timedelta(hours=1),
                    expires_at=NOW - timedelta(minutes=1),
                ),
                # reserved and already written by the consumer: counted once, as the order
                OrderReservation(
                    client_order_id="o-partial",
                    symbol="AAPL",
                    side="buy",
                    notional=Decimal(1250),
                    created_at=NOW,
                    expires_at=NOW + timedelta(minutes=5),
                ),
            ]
        )


def test_the_view_holds_the_book_and_what_is_on_its_way(database: Database) -> None:
    _seed(database)
    view = RouterBookRepository(database).view("simulated", "AAPL", "rt-new", NOW)
    assert view.held == Decimal(30)
    assert {p.symbol for p in view.positions} == {"AAPL", "MSFT"}  # this account only
    assert sorted(o.client_order_id for o in view.pending) == ["o-notional", "o-partial", "r-live"]
    assert view.pending_qty(PRICE) == Decimal(15) - Decimal(10) + Decimal(5)
    assert view.existing is None
    # equity fallback: realised of every position, unrealised of the symbol at the run's price
    assert view.marked_equity(Decimal(100_000), PRICE) == Decimal(100_000 + 15 + 30 * (50 - 40))


@pytest.mark.parametrize(
    ("client_order_id", "status", "source"),
    [
        ("o-done", "filled", "orders"),
        ("o-partial", "partially_filled", "orders"),
        ("r-live", "reserved", "reservation"),
    ],
)
def test_the_order_under_the_runs_id_is_reported(
    database: Database, client_order_id: str, status: str, source: str
) -> None:
    _seed(database)
    view = RouterBookRepository(database).view("simulated", "AAPL", client_order_id, NOW)
    assert view.existing is not None
    assert (view.existing.status, view.existing.source) == (status, source)
    pending = {o.client_order_id for o in view.pending}
    if source == "reservation":  # the run's own reservation is not another working order
        assert client_order_id not in pending


def test_an_expired_reservation_is_neither_pending_nor_a_duplicate(database: Database) -> None:
    _seed(database)
    view = RouterBookRepository(database).view("simulated", "AAPL", "r-expired", NOW)
    assert view.existing is None
    assert "r-expired" not in {o.client_order_id for o in view.pending}


def test_an_unreachable_database_raises_a_storage_error() -> None:
    down = Database("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    try:
        with pytest.raises(StorageError, match="unreadable"):
            RouterBookRepository(down).view("simulated", "AAPL", "rt-x", NOW)
    finally:
        down.dispose()


def test_the_governor_state_is_read_for_the_last_check(database: Database) -> None:
    from app.risk.governor import GovernorState
    from app.storage.repositories.guard import GuardRepository
    from app.storage.repositories.kill_switch import KillSwitchRepository

    store, switch = GuardRepository(database), KillSwitchRepository(database)
    assert store.governor_state() is GovernorState.ACTIVE  # no row yet
    switch.set_state(GovernorState.REDUCING, reason="wind down", actor="pytest")
    assert store.governor_state() is GovernorState.REDUCING
    switch.set(True, reason="incident", actor="pytest")
    assert store.governor_state() is GovernorState.HALTED
