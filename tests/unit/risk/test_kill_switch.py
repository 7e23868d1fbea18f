"""The global kill switch, its audit trail and the order guard on a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.errors import InputError, StorageError
from app.risk.guard import GuardLimits, GuardRequest, OrderGuard, realised_pnl, trading_day_start
from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_NOTIONAL,
    KILL_SWITCH_UNAVAILABLE,
)
from app.storage.db import Database
from app.storage.models import Fill, Order
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'ks.db'}")
    database.upgrade()
    yield database
    database.dispose()


def _order(db: Database, client_order_id: str, status: str) -> int:
    with db.transaction() as session:
        order = Order(
            client_order_id=client_order_id, symbol="AAPL", side="buy", qty=Decimal(1), status=status
        )
        session.add(order)
        session.flush()
        return order.id


def _fill(db: Database, order_id: int, fill_id: str, side: str, qty: str, price: str, ts: datetime) -> None:
    with db.transaction() as session:
        session.add(
            Fill(
                order_id=order_id,
                venue_fill_id=fill_id,
                symbol="AAPL",
                side=side,
                qty=Decimal(qty),
                price=Decimal(price),
                fee=Decimal(0),
                ts=ts,
            )
        )


def test_switch_is_off_until_set_and_records_who_and_why(db: Database) -> None:
    store = KillSwitchRepository(db)
    assert store.status().active is False
    assert store.is_active() is False

    on = store.set(True, reason="broker outage", actor="ops@desk")
    assert (on.active, on.reason, on.actor) == (True, "broker outage", "ops@desk")
    assert store.is_active() is True

    off = store.set(False, reason="resolved", actor="ops@desk")
    assert off.active is False and off.updated_at is not None


def test_switch_change_without_reason_or_actor_is_refused(db: Database) -> None:
    store = KillSwitchRepository(db)
    with pytest.raises(InputError, match="reason"):
        store.set(True, reason="  ", actor="ops")
    with pytest.raises(InputError, match="actor"):
        store.set(True, reason="why", actor="")


def test_trips_are_counted_per_reason(db: Database) -> None:
    guard = OrderGuard(GuardRepository(db), GuardLimits(notional=1_000))
    guard.check(GuardRequest(symbol="AAPL", notional=10, kill_switch_active=True), now=NOW)
    guard.check(GuardRequest(symbol="AAPL", notional=5_000), now=NOW)
    guard.check(GuardRequest(symbol="AAPL", notional=5_000), now=NOW)
    status = KillSwitchRepository(db).status()
    assert status.trips[KILL_SWITCH_ACTIVE] == 1
    assert status.trips[KILL_SWITCH_NOTIONAL] == 2
    assert status.trips[KILL_SWITCH_DAILY_LOSS] == 0
    assert status.trips_total == 3


def test_guard_passes_when_nothing_is_exceeded(db: Database) -> None:
    limits = GuardLimits(notional=10_000, daily_loss=500, max_open_orders=3)
    decision = OrderGuard(GuardRepository(db), limits).check(
        GuardRequest(symbol="AAPL", notional=9_999.99), now=NOW
    )
    assert decision.allowed and decision.reason is None
    assert KillSwitchRepository(db).status().trips_total == 0


def test_global_switch_trips_the_guard(db: Database) -> None:
    KillSwitchRepository(db).set(True, reason="halt", actor="ops")
    decision = OrderGuard(GuardRepository(db), GuardLimits()).check(
        GuardRequest(symbol="AAPL", notional=1), now=NOW
    )
    assert (decision.allowed, decision.reason) == (False, KILL_SWITCH_ACTIVE)
    assert "global" in decision.detail


def test_lowest_of_request_and_configured_notional_applies(db: Database) -> None:
    guard = OrderGuard(GuardRepository(db), GuardLimits(notional=50_000))
    low = guard.check(GuardRequest(symbol="AAPL", notional=2_000, kill_switch_notional=1_000), now=NOW)
    assert low.reason == KILL_SWITCH_NOTIONAL and "kill_switch_notional" in low.detail
    high = guard.check(GuardRequest(symbol="AAPL", notional=60_000, kill_switch_notional=100_000), now=NOW)
    assert high.reason == KILL_SWITCH_NOTIONAL and "KILL_SWITCH_NOTIONAL" in high.detail


def test_open_orders_at_the_cap_trip_max_orders(db: Database) -> None:
    _order(db, "a", "new")
    _order(db, "b", "partially_filled")
    _order(db, "c", "filled")
    guard = OrderGuard(GuardRepository(db), GuardLimits(max_open_orders=2))
    decision = guard.check(GuardRequest(symbol="AAPL", notional=1), now=NOW)
    assert decision.reason == KILL_SWITCH_MAX_ORDERS and "2 open orders" in decision.detail
    assert (
        OrderGuard(GuardRepository(db), GuardLimits(max_open_orders=3))
        .check(GuardRequest(symbol="AAPL", notional=1), now=NOW)
        .allowed
    )


def test_todays_realised_loss_trips_daily_loss(db: Database) -> None:
    order_id = _order(db, "x", "filled")
    yesterday = NOW - timedelta(days=1)
    _fill(db, order_id, "f1", "buy", "10", "100", yesterday)
    _fill(db, order_id, "f2", "sell", "10", "40", NOW - timedelta(hours=1))
    tripped = OrderGuard(GuardRepository(db), GuardLimits(daily_loss=500)).check(
        GuardRequest(symbol="AAPL", notional=1), now=NOW
    )
    assert tripped.reason == KILL_SWITCH_DAILY_LOSS and "-600" in tripped.detail
    assert (
        OrderGuard(GuardRepository(db), GuardLimits(daily_loss=700))
        .check(GuardRequest(symbol="AAPL", notional=1), now=NOW)
        .allowed
    )
    # the next trading day starts from zero
    tomorrow = NOW + timedelta(days=1)
    assert (
        OrderGuard(GuardRepository(db), GuardLimits(daily_loss=500))
        .check(GuardRequest(symbol="AAPL", notional=1), now=tomorrow)
        .allowed
    )


def test_unmigrated_database_makes_the_guard_refuse(tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    decision = OrderGuard(GuardRepository(empty), GuardLimits()).check(
        GuardRequest(symbol="AAPL", notional=1), now=NOW
    )
    assert (decision.allowed, decision.reason) == (False, KILL_SWITCH_UNAVAILABLE)
    assert "StorageError" in decision.detail
    with pytest.raises(StorageError):
        KillSwitchRepository(empty).status()
    empty.dispose()


def test_unreachable_database_makes_the_guard_refuse() -> None:
    down = Database("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    decision = OrderGuard(GuardRepository(down), GuardLimits()).check(
        GuardRequest(symbol="AAPL", notional=1), now=NOW
    )
    assert (decision.allowed, decision.reason) == (False, KILL_SWITCH_UNAVAILABLE)
    down.dispose()


@pytest.mark.parametrize(
    ("limits", "request_limit"),
    [
        (GuardLimits(notional=float("nan")), None),
        (GuardLimits(), -5.0),
        (GuardLimits(), float("inf")),
        (GuardLimits(daily_loss=float("nan")), None),
        (GuardLimits(max_open_orders=-1), None),
    ],
)
def test_unusable_limit_makes_the_guard_refuse(
    db: Database, limits: GuardLimits, request_limit: float | None
) -> None:
    decision = OrderGuard(GuardRepository(db), limits).check(
        GuardRequest(symbol="AAPL", notional=1, kill_switch_notional=request_limit), now=NOW
    )
    assert (decision.allowed, decision.reason) == (False, KILL_SWITCH_UNAVAILABLE)


def test_non_finite_notional_makes_the_guard_refuse(db: Database) -> None:
    decision = OrderGuard(GuardRepository(db), GuardLimits()).check(
        GuardRequest(symbol="AAPL", notional=float("nan")), now=NOW
    )
    assert decision.reason == KILL_SWITCH_UNAVAILABLE


def test_realised_pnl_handles_long_short_and_fees() -> None:
    t0 = datetime(2026, 1, 5, 15, tzinfo=UTC)
    fills = [
        ("AAPL", "buy", Decimal(10), Decimal(100), Decimal(0), t0),
        ("AAPL", "buy", Decimal(10), Decimal(110), Decimal(0), t0 + timedelta(minutes=1)),
        ("AAPL", "sell", Decimal(25), Decimal(120), Decimal(1), t0 + timedelta(minutes=2)),  # +300, short 5
        ("AAPL", "buy", Decimal(5), Decimal(100), Decimal("0.5"), t0 + timedelta(minutes=3)),  # +100
    ]
    assert realised_pnl(fills, since=t0) == Decimal("398.5")
    assert realised_pnl(fills, since=t0 + timedelta(minutes=3)) == Decimal("99.5")


def test_trading_day_starts_at_new_york_midnight() -> None:
    late_evening_ny = datetime(2026, 3, 11, 3, 30, tzinfo=UTC)  # 23:30 on the 10th in New York
    assert trading_day_start(late_evening_ny) == datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
