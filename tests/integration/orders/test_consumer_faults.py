"""Database faults the consumer must wait out, and batch boundaries that must not matter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg

from app.bus.local import LocalBus, LocalBusConfig
from app.bus.topology import topology
from app.config import Settings
from app.domain.orders import OrderEvent, OrderStatus
from app.errors import StorageError
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from tests import servers
from tests.integration.orders.scenario import T0, build, order_event
from tests.threads import in_background

HUB = "exec.orders"
GROUP = "orchestrator"


@contextmanager
def _read_only(port: int) -> Iterator[None]:
    """Make the whole server refuse writes (as a failover to a standby would), then undo it."""
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def setting(sql: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql)
            conn.execute("SELECT pg_reload_conf()")

    setting("ALTER SYSTEM SET default_transaction_read_only = on")
    try:
        yield
    finally:
        setting("ALTER SYSTEM RESET default_transaction_read_only")


def _readiness_within(db: Database, seconds: float, *, ready: bool) -> str:
    """Poll ``check_ready`` until it passes (``ready``) or fails (not ``ready``); its verdict.

    ``pg_reload_conf`` only signals the server: a backend takes the new setting up after the
    command it is serving, so the first probe after a reload may still see the old one.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            db.check_ready()
            verdict = "ready"
        except StorageError as exc:
            verdict = str(exc)
        if (verdict == "ready") == ready or time.monotonic() > deadline:
            return verdict
        time.sleep(0.1)


def test_read_only_postgres_is_waited_out_without_dead_letters(
    postgres: servers.Server, postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    db = Database(postgres_url)
    db.upgrade()
    bus = LocalBus(LocalBusConfig(path=settings.DATA_DIR / "bus.db"), topology(settings))
    scenario = build(3000, seed=23)
    config = OrderConsumerConfig(
        hub=HUB,
        group=GROUP,
        batch_size=100,
        poll_timeout_s=0.1,
        idle_exit_s=2.0,
        lag_interval_s=0.0,
        retry_initial_s=0.05,
        retry_max_s=0.3,
    )
    consumer = bus.consumer(HUB, GROUP)
    worker = OrderConsumer(consumer, OrdersRepository(db), config)

    def publish() -> None:
        for start in range(0, len(scenario.envelopes), 100):
            bus.publish(HUB, scenario.envelopes[start : start + 100])
            time.sleep(0.03)

    with (
        in_background(publish, name="publisher") as publisher,
        in_background(worker.run, name="order consumer", stop=worker.request_stop) as runner,
    ):
        time.sleep(0.3)
        with _read_only(postgres.port):
            # readiness sees what SELECT 1 does not (once the server has passed the reload on)
            assert "read-only" in _readiness_within(db, 10.0, ready=False)
            time.sleep(2.5)
        assert _readiness_within(db, 10.0, ready=True) == "ready"
        publisher.join(timeout=60)
        runner.join(timeout=60)
    consumer.close()

    assert worker.stats.retries > 0  # the consumer did hit the read-only database
    assert worker.stats.dead_lettered == 0
    assert bus.dead_letters(HUB, GROUP) == []
    service = OrdersRepository(db)
    rows = {}
    cursor = None
    while True:
        page = service.list_orders(limit=500, cursor=cursor)
        rows.update({o.client_order_id: o for o in page.items})
        cursor = page.next_cursor
        if cursor is None:
            break
    assert set(rows) == set(scenario.expected)
    fills = 0
    for cid, expected in scenario.expected.items():
        order = rows[cid]
        assert (order.status, order.filled_qty, order.avg_fill_price) == (
            expected.status,
            expected.filled_qty,
            expected.avg_fill_price,
        ), cid
        assert order.strategy == "momentum", cid
        fills += len(expected.fill_ids)
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM trading.fills").scalar()
    assert stored == fills == scenario.fill_count
    bus.close()
    db.dispose()


def _update_without_strategy(cid: str) -> OrderEvent:
    event = order_event(cid, OrderStatus.ACCEPTED, ts=T0 + timedelta(seconds=1), broker_order_id="b-1")
    return event.model_copy(update={"strategy": None})


def test_strategy_survives_a_later_update_without_it_in_the_same_batch(database: Database) -> None:
    service = OrdersRepository(database)
    intent = order_event("ord-strategy-1")
    assert intent.strategy == "momentum"
    service.apply(
        [
            SourcedOrderEvent(intent, "e-1"),
            SourcedOrderEvent(_update_without_strategy("ord-strategy-1"), "e-2"),
        ]
    )
    order = service.get_order("ord-strategy-1").order
    assert (order.status, order.strategy, order.broker_order_id) == ("accepted", "momentum", "b-1")


def test_strategy_is_the_same_whatever_the_batch_boundaries(database: Database) -> None:
    service = OrdersRepository(database)
    events = [order_event("ord-split"), _update_without_strategy("ord-split")]
    service.apply([SourcedOrderEvent(events[0], "e-1")])
    service.apply([SourcedOrderEvent(events[1], "e-2")])
    service.apply([SourcedOrderEvent(events[1], "e-2"), SourcedOrderEvent(events[0], "e-1")])
    assert service.get_order("ord-split").order.strategy == "momentum"
