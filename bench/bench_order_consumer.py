"""Order consumer throughput against raw driver upserts of the same rows, in one run.

ai-trader: events/s through the whole consumer step (bus read, envelope + OrderEvent
validation, one-transaction upsert of orders and fills with totals recomputed, checkpoint),
on the embedded pair (local bus + SQLite) and the scale-out pair (Redis Streams +
PostgreSQL, both started here on loopback).

The consumer keeps the position book (``trading.positions`` of the account) in the fills'
transaction: every new fill moves its symbol's row.

Baseline: the same per-event rows written with the bare driver (``sqlite3`` / ``psycopg``
``executemany``), one transaction per 1,000 events: the order upsert with the same
forward-only status rule, the fill insert that ignores duplicates, and the upsert of the
position rows the batch's new fills moved (their values computed before the clock starts, with
the book's own arithmetic). The baseline reads no bus, validates nothing, does not recompute
fill totals and does no position arithmetic, so it is an upper bound.

Run: ``.venv/bin/python -m bench.bench_order_consumer`` (writes its section of
docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from app.bootstrap import build_bus
from app.config import Settings
from app.domain.orders import OrderEvent
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from bench.report import Goal, Section
from tests import servers
from tests.integration.orders.scenario import Scenario, build

HUB = "exec.orders"
ACCOUNT = "simulated"  # the consumer's book with the default (simulated) broker
GROUP = "orchestrator"
EVENTS = 20_000
BATCH = 1000

_RANK = "CASE {col} WHEN 'new' THEN 0 WHEN 'accepted' THEN 1 WHEN 'partially_filled' THEN 2 ELSE 3 END"


def _settings(root: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, DATA_DIR=root / "var", ARTIFACTS_DIR=root / "art", **values)  # type: ignore[call-arg]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _consumer_rate(settings: Settings, database_url: str, scenario: Scenario) -> tuple[float, float]:
    """Events/s and CPU seconds of this process through the whole consumer step."""
    bus = build_bus(settings)
    for start in range(0, len(scenario.envelopes), 5000):
        bus.publish(HUB, scenario.envelopes[start : start + 5000])
    database = Database(database_url)
    database.upgrade()
    consumer = bus.consumer(HUB, GROUP)
    worker = OrderConsumer(consumer, OrdersRepository(database), OrderConsumerConfig(hub=HUB, group=GROUP))
    total = len(scenario.envelopes)
    cpu_before = _cpu()
    started = time.perf_counter()
    while worker.stats.events < total:
        batch = consumer.poll(BATCH, 1.0)
        if batch:
            worker.process(batch)
    elapsed = time.perf_counter() - started
    cpu_used = _cpu() - cpu_before
    consumer.close()
    bus.close()
    database.dispose()
    return total / elapsed, cpu_used


def _raw_positions(scenario: Scenario) -> list[list[tuple[Any, ...]]]:
    """Per batch of ``BATCH`` events: the position rows its new fills moved, after them.

    Computed before any clock starts, with the book's arithmetic, so the raw side writes the
    same rows as the consumer without doing the work of finding them.
    """
    from app.portfolio.book import BookFill, Position

    held: dict[str, Position] = {}
    seen: set[tuple[str, str]] = set()
    now = datetime.now(UTC).isoformat()
    events = [OrderEvent.model_validate(env.payload) for env in scenario.envelopes]
    out: list[list[tuple[Any, ...]]] = []
    for start in range(0, len(events), BATCH):
        fresh = []
        for event in events[start : start + BATCH]:
            for fill in event.fills:
                key = (event.client_order_id, fill.venue_fill_id)
                if key in seen:
                    continue
                seen.add(key)
                fresh.append(
                    BookFill(
                        account=ACCOUNT,
                        symbol=event.symbol,
                        side=event.side,
                        quantity=fill.qty,
                        price=fill.price,
                        fee=fill.fee,
                        ts=fill.ts,
                        fill_id=f"{key[0]}/{key[1]}",
                    )
                )
        for fill in sorted(fresh, key=lambda f: (f.ts, f.fill_id)):
            position = held.get(fill.symbol) or Position(account=ACCOUNT, symbol=fill.symbol)
            held[fill.symbol] = position.apply(fill).position
        rows = []
        for symbol in sorted({f.symbol for f in fresh}):
            position = held[symbol]
            last = position.last_fill_at.isoformat() if position.last_fill_at else None
            rows.append(
                (
                    ACCOUNT,
                    symbol,
                    str(position.quantity),
                    str(position.average_cost),
                    str(position.cost_basis),
                    str(position.realised_pnl),
                    str(position.fees),
                    last,
                    "fills",
                    now,
                )
            )
        out.append(rows)
    return out


def _raw_rows(scenario: Scenario) -> tuple[list[tuple[Any, ...]], list[list[tuple[Any, ...]]]]:
    """Per event: its order row and its fill rows, as plain tuples."""
    orders: list[tuple[Any, ...]] = []
    fills: list[list[tuple[Any, ...]]] = []
    for env in scenario.envelopes:
        event = OrderEvent.model_validate(env.payload)
        ts = event.ts.isoformat()
        raw = json.dumps(env.payload)
        orders.append(
            (
                event.client_order_id,
                event.broker_order_id,
                event.symbol,
                event.side.value,
                str(event.qty),
                event.type.value,
                event.time_in_force,
                event.status.value,
                "0",
                event.strategy,
                env.event_id,
                ts,
                ts,
                raw,
            )
        )
        fills.append(
            [
                (
                    event.client_order_id,
                    f.venue_fill_id,
                    event.symbol,
                    event.side.value,
                    str(f.qty),
                    str(f.price),
                )
                for f in event.fills
            ]
        )
    return orders, fills


_ORDER_COLUMNS = (
    "client_order_id, broker_order_id, symbol, side, qty, type, time_in_force, status, filled_qty, "
    "strategy, source_event_id, created_at, updated_at, raw"
)


def _order_upsert(table: str, param: str) -> str:
    marks = ", ".join([param] * 14)
    advances = f"{_RANK.format(col='excluded.status')} > {_RANK.format(col='o.status')}"
    return (
        f"INSERT INTO {table} AS o ({_ORDER_COLUMNS}) VALUES ({marks}) "
        "ON CONFLICT (client_order_id) DO UPDATE SET "
        f"status = CASE WHEN {advances} THEN excluded.status ELSE o.status END, "
        "broker_order_id = COALESCE(excluded.broker_order_id, o.broker_order_id), "
        "updated_at = excluded.updated_at"
    )


def _fill_insert(orders: str, fills: str, param: str) -> str:
    return (
        f"INSERT INTO {fills} (order_id, venue_fill_id, symbol, side, qty, price, fee, ts, created_at, raw) "
        f"SELECT id, {param}, {param}, {param}, {param}, {param}, '0', updated_at, updated_at, '{{}}' "
        f"FROM {orders} WHERE client_order_id = {param} "
        "ON CONFLICT (order_id, venue_fill_id) DO NOTHING"
    )


def _position_upsert(table: str, param: str) -> str:
    columns = (
        "account, symbol, qty, avg_cost, cost_basis, realised_pnl, fees, last_fill_ts, source, updated_at"
    )
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns.split(", ")[2:])
    marks = ", ".join([param] * 10)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT (account, symbol) DO UPDATE SET {updates}"
    )


def _raw_run(
    scenario: Scenario,
    execute_many: Callable[[str, list[tuple[Any, ...]]], None],
    commit: Callable[[], None],
    orders_sql: str,
    fills_sql: str,
    positions_sql: str,
) -> tuple[float, float]:
    orders, fills = _raw_rows(scenario)
    positions = _raw_positions(scenario)
    cpu_before = _cpu()
    started = time.perf_counter()
    for batch_no, start in enumerate(range(0, len(orders), BATCH)):
        execute_many(orders_sql, orders[start : start + BATCH])
        rows = [
            (fid, sym, side, qty, price, cid)
            for batch in fills[start : start + BATCH]
            for (cid, fid, sym, side, qty, price) in batch
        ]
        if rows:
            execute_many(fills_sql, rows)
        if positions[batch_no]:
            execute_many(positions_sql, positions[batch_no])
        commit()
    return len(orders) / (time.perf_counter() - started), _cpu() - cpu_before


def _book(database_url: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Symbol -> (quantity, cost basis) of the account's position rows."""
    from app.storage.repositories.portfolio import PortfolioRepository

    database = Database(database_url)
    try:
        rows = PortfolioRepository(database).positions(ACCOUNT, include_flat=True)
    finally:
        database.dispose()
    return {p.symbol: (p.quantity, p.cost_basis) for p in rows}


def _same_book(ours_url: str, raw_url: str) -> None:
    ours, raw = _book(ours_url), _book(raw_url)
    if not ours or ours != raw:
        differ = sorted(s for s in ours.keys() | raw.keys() if ours.get(s) != raw.get(s))
        raise RuntimeError(
            f"the consumer's book and the raw rows differ in {len(differ)} symbols: {differ[:5]}"
        )


def _raw_sqlite(path: Path, scenario: Scenario) -> tuple[float, float]:
    Database(f"sqlite:///{path}").upgrade()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        return _raw_run(
            scenario,
            lambda sql, rows: conn.executemany(sql, rows) and None,
            conn.commit,
            _order_upsert("orders", "?"),
            _fill_insert("orders", "fills", "?"),
            _position_upsert("positions", "?"),
        )
    finally:
        conn.close()


def _raw_postgres(url: str, scenario: Scenario) -> tuple[float, float]:
    Database(url).upgrade()
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        return _raw_run(
            scenario,
            lambda sql, rows: cursor.executemany(sql, rows),
            conn.commit,
            _order_upsert("trading.orders", "%s"),
            _fill_insert("trading.orders", "trading.fills", "%s"),
            _position_upsert("trading.positions", "%s"),
        )


def _fresh_pg(port: int) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:{port}/{name}"


def run(quick: bool = False) -> Section:
    rounds = 1 if quick else 3
    scenario = build(EVENTS, seed=1)
    # The generated events are harness data: keep them out of the collector's scans, for
    # both sides, as the consumer process does with its start-up objects.
    gc.collect()
    gc.freeze()
    pairs = (("local bus + SQLite", 10_000), ("Redis Streams + PostgreSQL", 5_000))
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}

    def record(pair: str, side: str, measured: tuple[float, float]) -> None:
        rates.setdefault((pair, side), []).append(measured[0])
        cpu.setdefault((pair, side), []).append(measured[1])

    with (
        tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp,
        servers.postgres_server() as pg,
        servers.redis_server() as redis_server,
    ):
        root = Path(tmp)
        for round_ in range(rounds):  # interleaved: ours, raw, ours, raw ... on fresh databases
            here = root / f"r{round_}"
            here.mkdir()
            sqlite_url = f"sqlite:///{here / 'orders.db'}"
            record(
                pairs[0][0],
                "ours",
                _consumer_rate(_settings(here, DATABASE_URL=sqlite_url), sqlite_url, scenario),
            )
            record(pairs[0][0], "raw", _raw_sqlite(here / "raw.db", scenario))
            _same_book(sqlite_url, f"sqlite:///{here / 'raw.db'}")
            pg_url = _fresh_pg(pg.port)
            redis_url = f"redis://127.0.0.1:{redis_server.port}/{round_ % 16}"
            settings = _settings(here / "pg", DATABASE_URL=pg_url, BUS_URL=redis_url)
            record(pairs[1][0], "ours", _consumer_rate(settings, pg_url, scenario))
            raw_url = _fresh_pg(pg.port)
            record(pairs[1][0], "raw", _raw_postgres(raw_url, scenario))
            _same_book(pg_url, raw_url)
            print(
                f"round {round_ + 1}: "
                + "; ".join(
                    f"{pair} {side} {rates[(pair, side)][-1]:,.0f}/s"
                    for pair, _ in pairs
                    for side in ("ours", "raw")
                ),
                file=sys.stderr,
            )
    events = len(scenario.envelopes)
    lines = [
        f"{events:,} `exec.orders` events ({len(scenario.expected):,} orders, "
        f"{scenario.fill_count:,} fills, partial fills, redelivered and late reports), batches of {BATCH}."
        " ai-trader = bus read + envelope/OrderEvent validation + one-transaction upsert "
        "(orders, fills, recomputed totals, the position book's rows) + checkpoint. Raw = the bare driver's "
        "`executemany` of the same order upserts, fill inserts and position rows (computed before the clock"
        " starts), one transaction per batch, no bus, no validation, no totals, no position arithmetic; both"
        " sides end with the same book (checked after every round). "
        "Both sides run in one process with the generated events frozen out of the garbage collector "
        "(`gc.freeze()`, as the consumer does with its start-up objects). "
        f"{rounds} interleaved rounds on fresh databases (ours, raw, ours, raw ...): median (min-max)"
        " events/s, and this process's CPU time per event (the database and Redis servers' CPU is not"
        " in it). The machine is shared with other work, so absolute figures vary run to run; the ratio"
        " is the steadier number.",
        "",
        "| pair | ai-trader events/s | CPU µs/event | raw driver events/s | CPU µs/event | ai-trader / raw"
        " | goal |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    medians: dict[str, tuple[float, float]] = {}
    goals = []
    for pair, goal in pairs:
        ours, raw = rates[(pair, "ours")], rates[(pair, "raw")]
        rate, raw_rate = statistics.median(ours), statistics.median(raw)
        medians[pair] = (rate, raw_rate)
        ours_cpu = statistics.median(cpu[(pair, "ours")]) / events * 1e6
        raw_cpu = statistics.median(cpu[(pair, "raw")]) / events * 1e6
        verdict = "met" if rate >= goal else "missed"
        lines.append(
            f"| {pair} | {rate:,.0f} ({min(ours):,.0f}-{max(ours):,.0f}) | {ours_cpu:.0f} "
            f"| {raw_rate:,.0f} ({min(raw):,.0f}-{max(raw):,.0f}) | {raw_cpu:.0f} "
            f"| {rate / raw_rate:.2f} | {goal:,} ({verdict}) |"
        )
        goals.append(
            Goal(
                f"order consumer with the position book, {pair}: >= {goal:,} events/s",
                f"{rate:,.0f}/s",
                rate >= goal,
            )
        )
    return Section(
        name="order_consumer",
        title="Order consumer (with the position book)",
        body="\n".join(lines),
        ratios={
            "order_consumer.book.sqlite.over_raw": medians[pairs[0][0]][0] / medians[pairs[0][0]][1],
            "order_consumer.book.postgres.over_raw": medians[pairs[1][0]][0] / medians[pairs[1][0]][1],
        },
        goals=goals,
    )


if __name__ == "__main__":
    print(run().body)
