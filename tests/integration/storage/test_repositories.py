"""Guard snapshot, sweep jobs and backtest runs repositories on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.errors import NotFoundError, StorageError
from app.risk.guard import trading_day_start
from app.risk.pnl import FillRow, realised_pnl, realised_pnl_by_symbol
from app.risk.ports import GuardSnapshot, SnapshotQuery
from app.storage.db import Database
from app.storage.repositories.backtest_runs import BacktestRunRecord, BacktestRunsRepository
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.storage.repositories.sweep_jobs import STATUSES, SweepJobsRepository

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
SINCE = trading_day_start(NOW)
FULL = SnapshotQuery(now=NOW, since=SINCE, realised_pnl=True, open_orders=True)


def _order(
    database: Database,
    client_order_id: str,
    symbol: str,
    side: OrderSide,
    fills: list[tuple[str, str, datetime]],
    status: OrderStatus = OrderStatus.FILLED,
) -> None:
    """Store one order and its fills ``(qty, price, ts)`` the way the order consumer does."""
    payloads = [
        FillPayload(
            venue_fill_id=f"{client_order_id}-{i}",
            qty=Decimal(qty),
            price=Decimal(price),
            fee=Decimal("0.5"),
            ts=ts,
        )
        for i, (qty, price, ts) in enumerate(fills)
    ]
    total = sum((p.qty for p in payloads), Decimal(0)) or Decimal(1)
    event_ts = fills[-1][2] if fills else NOW - timedelta(hours=1)
    order = OrderEvent(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        qty=total,
        status=status,
        ts=event_ts,
        fills=payloads,
    )
    OrdersRepository(database).apply([SourcedOrderEvent(order, f"evt-{client_order_id}")])


def _history(database: Database) -> list[FillRow]:
    """Every fill up to NOW, in time order, as the old guard read them (the oracle's input)."""
    rows: list[FillRow] = []
    page = OrdersRepository(database).list_fills(limit=500)
    for fill in sorted(page.items, key=lambda f: (f.ts, f.id)):
        if fill.ts <= NOW:
            rows.append((fill.symbol, fill.side, fill.qty, fill.price, fill.fee, fill.ts))
    return rows


@contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


@pytest.fixture
def traded(database: Database) -> Database:
    """AAPL bought two days ago and partly sold today; MSFT shorted yesterday and covered today."""
    _order(database, "aapl-1", "AAPL", OrderSide.BUY, [("10", "100", NOW - timedelta(days=2))])
    _order(database, "aapl-2", "AAPL", OrderSide.BUY, [("10", "110", NOW - timedelta(days=1, hours=3))])
    _order(database, "aapl-3", "AAPL", OrderSide.SELL, [("5", "90", NOW - timedelta(hours=2))])
    _order(database, "msft-1", "MSFT", OrderSide.SELL, [("4", "300", NOW - timedelta(days=1))])
    _order(
        database,
        "msft-2",
        "MSFT",
        OrderSide.BUY,
        [("2", "310", NOW - timedelta(hours=3)), ("2", "280", NOW - timedelta(hours=1))],
    )
    _order(database, "tsla-1", "TSLA", OrderSide.BUY, [("1", "200", NOW - timedelta(days=3))])
    _order(database, "late", "AAPL", OrderSide.SELL, [("1", "1", NOW + timedelta(hours=1))])  # after NOW
    _order(database, "open-1", "NVDA", OrderSide.BUY, [], status=OrderStatus.NEW)
    _order(database, "open-2", "NVDA", OrderSide.BUY, [], status=OrderStatus.ACCEPTED)
    return database


def test_snapshot_of_an_empty_database(database: Database) -> None:
    snapshot = GuardRepository(database).guard_snapshot(FULL)
    assert snapshot == GuardSnapshot(
        kill_switch_active=False, open_orders=0, realised_pnl=Decimal(0), realised_pnl_by_symbol={}
    )


def test_snapshot_matches_a_replay_of_the_whole_history(traded: Database) -> None:
    KillSwitchRepository(traded).set(True, reason="drill", actor="tests")
    snapshot = GuardRepository(traded).guard_snapshot(FULL)
    history = _history(traded)
    assert snapshot.kill_switch_active is True
    assert snapshot.open_orders == 2
    assert snapshot.realised_pnl == realised_pnl(history, SINCE)
    assert dict(snapshot.realised_pnl_by_symbol) == realised_pnl_by_symbol(history, SINCE)
    # AAPL: 5 sold at 90 against an average cost of 105, less the fee; MSFT: a short of 4 at 300
    # covered 2 at 310 and 2 at 280, less two fees; TSLA was not traded today
    assert snapshot.realised_pnl_by_symbol == {"AAPL": Decimal("-75.5"), "MSFT": Decimal("19")}


def test_snapshot_reads_only_what_the_query_asks_for(traded: Database) -> None:
    repository = GuardRepository(traded)
    with _statements(traded) as seen:
        snapshot = repository.guard_snapshot(SnapshotQuery(now=NOW, since=SINCE))
    assert snapshot == GuardSnapshot(kill_switch_active=False)
    assert len(seen) == 1


def test_later_checks_do_not_read_the_history_again(traded: Database) -> None:
    repository = GuardRepository(traded)
    first = repository.guard_snapshot(FULL)
    with _statements(traded) as seen:
        again = repository.guard_snapshot(FULL)
    assert again == first
    assert len(seen) == 3  # state + open orders, today's fills, the history's count per symbol
    assert "GROUP BY" in seen[2].upper()


def test_a_fill_back_dated_before_today_is_seen_by_the_next_check(traded: Database) -> None:
    repository = GuardRepository(traded)
    before = repository.guard_snapshot(FULL)
    # a fill of yesterday arrives late: AAPL's average cost before today drops
    _order(traded, "aapl-late", "AAPL", OrderSide.BUY, [("20", "50", NOW - timedelta(days=1))])
    after = repository.guard_snapshot(FULL)
    history = _history(traded)
    assert after.realised_pnl_by_symbol == realised_pnl_by_symbol(history, SINCE)
    assert after.realised_pnl_by_symbol["AAPL"] > before.realised_pnl_by_symbol["AAPL"]
    # a symbol first traded today after the first check joins the snapshot too
    _order(traded, "tsla-2", "TSLA", OrderSide.SELL, [("1", "150", NOW - timedelta(minutes=5))])
    latest = repository.guard_snapshot(FULL)
    assert latest.realised_pnl_by_symbol["TSLA"] == Decimal("-50.5")
    assert latest.realised_pnl == realised_pnl(_history(traded), SINCE)


def test_the_next_trading_day_starts_from_zero(traded: Database) -> None:
    tomorrow = NOW + timedelta(days=1, hours=2)
    query = SnapshotQuery(now=tomorrow, since=trading_day_start(tomorrow), realised_pnl=True)
    snapshot = GuardRepository(traded).guard_snapshot(query)
    assert (snapshot.realised_pnl, snapshot.realised_pnl_by_symbol) == (Decimal(0), {})


def test_snapshot_of_an_unmigrated_database_raises(tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StorageError, match="guard snapshot unreadable"):
            GuardRepository(empty).guard_snapshot(FULL)
    finally:
        empty.dispose()


def test_sweep_job_lifecycle(database: Database) -> None:
    jobs = SweepJobsRepository(database)
    for job_id in ("a", "b"):
        jobs.add_queued(
            job_id,
            config_path=None,
            config_blob=f"blob://c/{job_id}",
            strategy="momentum",
            symbol="AAPL",
            config={"k": 1},
        )
    assert jobs.claim("a") is True
    assert jobs.claim("a") is False  # redelivered: already claimed
    jobs.record_execution("a", "exec-1")
    jobs.release("a", "transient")
    assert (jobs.get("a").status, jobs.get("a").error, jobs.get("a").dispatched_at) == (
        "queued",
        "transient",
        None,
    )
    assert jobs.claim("a") is True
    jobs.mark_running("a", "/tmp/out")
    jobs.mark_completed("a")
    jobs.mark_failed("b", "x" * 5000)

    done = jobs.get("a")
    assert (done.status, done.error, done.execution_name, done.output_dir) == (
        "completed",
        None,
        "exec-1",
        "/tmp/out",
    )
    assert done.finished_at is not None and done.finished_at.tzinfo is not None
    assert dict(done.config) == {"k": 1}
    assert len(jobs.get("b").error or "") == 4000
    assert jobs.counts() == {**dict.fromkeys(STATUSES, 0), "completed": 1, "failed": 1}
    assert [job.job_id for job in jobs.newest(status="failed")] == ["b"]
    assert {job.job_id for job in jobs.newest(limit=5)} == {"a", "b"}
    assert jobs.find("missing") is None
    with pytest.raises(NotFoundError):
        jobs.get("missing")
    with pytest.raises(NotFoundError):
        jobs.mark_completed("missing")


def test_backtest_runs_are_recorded_once(database: Database) -> None:
    runs = BacktestRunsRepository(database)
    record = BacktestRunRecord(
        run_id="r1",
        source="cli",
        symbol="AAPL",
        strategy="breakout",
        vendor="synthetic",
        interval="1Day",
        params={"lookback": 20},
        metrics={"sharpe": 1.25},
        frame_path="frames/r1.parquet",
    )
    runs.add(record)
    (stored,) = runs.recent()
    assert stored.created_at is not None and stored.created_at.tzinfo is not None
    assert stored == BacktestRunRecord(
        **{
            **{name: getattr(record, name) for name in BacktestRunRecord.__slots__},
            "created_at": stored.created_at,
        }
    )
    with pytest.raises(StorageError, match="cannot record the backtest run"):
        runs.add(record)
