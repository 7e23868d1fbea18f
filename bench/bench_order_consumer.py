"""Order consumer throughput against raw driver upserts of the same rows, in one run.

ai-trader: events/s through the whole consumer step (bus read, envelope + OrderEvent
validation, one-transaction upsert of orders and fills with totals recomputed, checkpoint),
on the embedded pair (local bus + SQLite) and the scale-out pair (Redis Streams +
PostgreSQL, both started here on loopback).

Baseline: the same per-event rows written with the bare driver (``sqlite3`` / ``psycopg``
``executemany``), one transaction per 1,000 events: the order upsert with the same
forward-only status rule and the fill insert that ignores duplicates. The baseline reads no
bus, validates nothing and does not recompute fill totals, so it is an upper bound.

Run: ``.venv/bin/python -m bench.bench_order_consumer`` (writes its section of
docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
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
GROUP = "orchestrator"
EVENTS = 20_000
BATCH = 1000

_RANK = "CASE {col} WHEN 'new' THEN 0 WHEN 'accepted' THEN 1 WHEN 'partially_filled' THEN 2 ELSE 3 END"


def _settings(root: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, DATA_DIR=root / "var", ARTIFACTS_DIR=root / "art", **values)  # type: ignore[call-arg]


def _consumer_rate(settings: Settings, database_url: str, scenario: Scenario) -> float:
    bus = build_bus(settings)
    for start in range(0, len(scenario.envelopes), 5000):
        bus.publish(HUB, scenario.envelopes[start : start + 5000])
    database = Database(database_url)
    database.upgrade()
    consumer = bus.consumer(HUB, GROUP)
    worker = OrderConsumer(consumer, OrdersRepository(database), OrderConsumerConfig(hub=HUB, group=GROUP))
    total = len(scenario.envelopes)
    started = time.perf_counter()
    while worker.stats.events < total:
        batch = consumer.poll(BATCH, 1.0)
        if batch:
            worker.process(batch)
    elapsed = time.perf_counter() - started
    consumer.close()
    bus.close()
    database.dispose()
    return total / elapsed


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


def _raw_run(
    scenario: Scenario,
    execute_many: Callable[[str, list[tuple[Any, ...]]], None],
    commit: Callable[[], None],
    orders_sql: str,
    fills_sql: str,
) -> float:
    orders, fills = _raw_rows(scenario)
    started = time.perf_counter()
    for start in range(0, len(orders), BATCH):
        execute_many(orders_sql, orders[start : start + BATCH])
        rows = [
            (fid, sym, side, qty, price, cid)
            for batch in fills[start : start + BATCH]
            for (cid, fid, sym, side, qty, price) in batch
        ]
        if rows:
            execute_many(fills_sql, rows)
        commit()
    return len(orders) / (time.perf_counter() - started)


def _raw_sqlite(path: Path, scenario: Scenario) -> float:
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
        )
    finally:
        conn.close()


def _raw_postgres(url: str, scenario: Scenario) -> float:
    Database(url).upgrade()
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        return _raw_run(
            scenario,
            lambda sql, rows: cursor.executemany(sql, rows),
            conn.commit,
            _order_upsert("trading.orders", "%s"),
            _fill_insert("trading.orders", "trading.fills", "%s"),
        )


def _fresh_pg(port: int) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:{port}/{name}"


def run(quick: bool = False) -> Section:
    results: list[tuple[str, float, float, float]] = []
    scenario = build(EVENTS, seed=1)
    # The generated events are harness data: keep them out of the collector's scans, for
    # both sides, as the consumer process does with its start-up objects.
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        root = Path(tmp)
        sqlite_url = f"sqlite:///{root / 'orders.db'}"
        settings = _settings(root, DATABASE_URL=sqlite_url)
        rate = _consumer_rate(settings, sqlite_url, scenario)
        raw = _raw_sqlite(root / "raw.db", scenario)
        results.append(("local bus + SQLite", rate, raw, 10_000))
        print(f"local+sqlite: {rate:,.0f} events/s (raw sqlite3 {raw:,.0f} events/s)")
        with servers.postgres_server() as pg, servers.redis_server() as redis_server:
            pg_url = _fresh_pg(pg.port)
            redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
            settings = _settings(root / "pg", DATABASE_URL=pg_url, BUS_URL=redis_url)
            rate_pg = _consumer_rate(settings, pg_url, scenario)
            raw_pg = _raw_postgres(_fresh_pg(pg.port), scenario)
            results.append(("Redis Streams + PostgreSQL", rate_pg, raw_pg, 5_000))
            print(f"redis+postgresql: {rate_pg:,.0f} events/s (raw psycopg {raw_pg:,.0f} events/s)")
    lines = [
        f"{len(scenario.envelopes):,} `exec.orders` events ({len(scenario.expected):,} orders, "
        f"{scenario.fill_count:,} fills, partial fills, redelivered and late reports), batches of {BATCH}."
        " ai-trader = bus read + envelope/OrderEvent validation + one-transaction upsert "
        "(orders, fills, recomputed totals) + checkpoint. Raw = the bare driver's `executemany` of the same "
        "order upserts and fill inserts, one transaction per batch, no bus, no validation, no totals. "
        "Both sides run in one process with the generated events frozen out of the garbage collector "
        "(`gc.freeze()`, as the consumer does with its start-up objects). The machine is shared with "
        "other work, so absolute figures vary run to run; the ratio is the steadier number.",
        "",
        "| pair | ai-trader events/s | raw driver events/s | ai-trader / raw | goal |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rate, raw, goal in results:
        verdict = "met" if rate >= goal else "missed"
        lines.append(f"| {name} | {rate:,.0f} | {raw:,.0f} | {rate / raw:.2f} | {goal:,} ({verdict}) |")
    return Section(
        name="order_consumer",
        title="Order consumer",
        body="\n".join(lines),
        ratios={
            "order_consumer.sqlite.over_raw": results[0][1] / results[0][2],
            "order_consumer.postgres.over_raw": results[1][1] / results[1][2],
        },
        goals=[
            Goal(f"order consumer, {name}: >= {goal:,} events/s", f"{rate:,.0f}/s", rate >= goal)
            for name, rate, _, goal in results
        ],
    )


if __name__ == "__main__":
    print(run().body)
