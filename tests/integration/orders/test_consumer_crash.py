"""Crash safety: SIGKILL the consumer process at random points, restart it, lose and double nothing.

Runs ``scripts/order_consumer.py`` exactly as operators do, on the embedded pair (local bus +
SQLite) and the scale-out pair (Redis Streams + PostgreSQL).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.bootstrap import build_bus
from app.config import Settings
from app.storage.db import Database
from app.storage.models import Fill, Order
from tests.integration.orders.scenario import build
from tests.servers import REPO

HUB = "exec.orders"
GROUP = "orchestrator"
EVENTS = 10_000
KILLS = 5


def _rows(database: Database) -> int:
    with database.session() as session:
        orders = session.execute(select(func.count()).select_from(Order)).scalar_one()
        fills = session.execute(select(func.count()).select_from(Fill)).scalar_one()
    return int(orders + fills)


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "order_consumer.py"),
            f"EH_HUB_ORDERS={HUB}",
            f"EH_CONSUMER_GROUP={GROUP}",
            *args,
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(params=["local+sqlite", "redis+postgresql"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "local+sqlite":
        return {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
            "BUS_URL": f"local://{tmp_path}/bus.db",
        }
    return {
        "DATABASE_URL": str(request.getfixturevalue("postgres_url")),
        "BUS_URL": str(request.getfixturevalue("redis_url")),
    }


def test_sigkill_at_random_points_loses_and_doubles_nothing(
    backends: dict[str, str], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(**backends, BUS_LEASE_S=2.0)
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update({**backends, "DATA_DIR": str(tmp_path / "var"), "BUS_LEASE_S": "2", "LOG_LEVEL": "WARNING"})
    scenario = build(EVENTS, seed=20261125)
    bus = build_bus(settings)
    for start in range(0, len(scenario.envelopes), 2000):
        bus.publish(HUB, scenario.envelopes[start : start + 2000])
    database = Database(backends["DATABASE_URL"])
    database.upgrade()
    expected_rows = len(scenario.expected) + scenario.fill_count
    rng = random.Random(99)
    kills = 0
    last = 0
    started = time.monotonic()
    while kills < KILLS:
        proc = _start(env, "BATCH_SIZE=100")
        try:
            deadline = time.monotonic() + 30
            while _rows(database) <= last and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(rng.uniform(0.0, 0.08))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
            last = _rows(database)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert last < expected_rows, "the stream ended before the consumer was killed 5 times"
    final = _start(env, "IDLE_EXIT_SECONDS=1.5")
    _, stderr = final.communicate(timeout=60)
    assert final.returncode == 0, stderr.decode()
    elapsed = time.monotonic() - started
    assert elapsed < 120, f"crash test took {elapsed:.0f} s"

    with database.session() as session:
        orders = {o.client_order_id: o for o in session.execute(select(Order)).scalars()}
        fills = session.execute(select(Fill.order_id, Fill.venue_fill_id, Fill.qty, Fill.price)).all()
    assert len(orders) == len(scenario.expected)
    assert len(fills) == scenario.fill_count
    assert len({(f.order_id, f.venue_fill_id) for f in fills}) == len(fills)
    by_order: dict[int, set[str]] = {}
    for fill in fills:
        by_order.setdefault(fill.order_id, set()).add(fill.venue_fill_id)
    for cid, expected in scenario.expected.items():
        order = orders[cid]
        assert order.status == expected.status, cid
        assert order.filled_qty == expected.filled_qty, cid
        assert order.avg_fill_price == expected.avg_fill_price, cid
        assert by_order.get(order.id, set()) == set(expected.fill_ids), cid
    assert sum(o.filled_qty for o in orders.values()) == sum(
        (e.filled_qty for e in scenario.expected.values()), Decimal(0)
    )
    consumer = bus.consumer(HUB, GROUP)
    assert sum(lag.events_behind for lag in consumer.lag()) == 0
    consumer.close()
    bus.close()
    database.dispose()


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    backends = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
        "BUS_URL": f"local://{tmp_path}/bus.db",
    }
    settings = make_settings(**backends)
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update({**backends, "DATA_DIR": str(tmp_path / "var")})
    scenario = build(4000, seed=8)
    bus = build_bus(settings)
    bus.publish(HUB, scenario.envelopes)
    database = Database(backends["DATABASE_URL"])
    database.upgrade()
    proc = _start(env, "BATCH_SIZE=20")
    try:
        deadline = time.monotonic() + 30
        while _rows(database) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr.decode()
    assert b"received SIGTERM" in stderr
    consumer = bus.consumer(HUB, GROUP)
    behind = sum(lag.events_behind for lag in consumer.lag())
    consumer.close()
    assert 0 < behind < len(scenario.envelopes)
    bus.close()
    database.dispose()
