"""The consumer loop on the real local bus and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container, build_blob_store
from app.bus.diagnostics import QUICKSEND_EVENT
from app.bus.envelope import Envelope
from app.bus.local import LocalBus, LocalBusConfig
from app.bus.topology import topology
from app.config import Settings
from app.domain.orders import OrderStatus
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository
from app.workers.consumer_status import ConsumerStatus, write_status
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from tests.integration.orders.scenario import build, envelope, fill, order_event
from tests.threads import in_background

HUB = "exec.orders"
GROUP = "orchestrator"


def _bus(settings: Settings, clock: Callable[[], float] = time.time) -> LocalBus:
    return LocalBus(LocalBusConfig(path=settings.DATA_DIR / "bus.db"), topology(settings), clock=clock)


def _config(**overrides: object) -> OrderConsumerConfig:
    values: dict[str, object] = {
        "hub": HUB,
        "group": GROUP,
        "batch_size": 200,
        "poll_timeout_s": 0.2,
        "idle_exit_s": 1.5,
        "lag_interval_s": 0.0,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.2,
    }
    values.update(overrides)
    return OrderConsumerConfig(**values)  # type: ignore[arg-type]


def test_consumer_writes_every_order_and_fill_exactly_once(
    database: Database, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    bus = _bus(settings)
    scenario = build(1500, seed=11)
    bus.publish(HUB, scenario.envelopes)
    # The same events again, as a producer retry would send them.
    bus.publish(HUB, scenario.envelopes[:300])
    consumer = bus.consumer(HUB, GROUP)
    stats = OrderConsumer(consumer, OrdersRepository(database), _config()).run()
    assert stats.events == len(scenario.envelopes) + 300
    assert stats.dead_lettered == 0
    assert sum(lag.events_behind for lag in consumer.lag()) == 0
    consumer.close()
    service = OrdersRepository(database)
    page = service.list_orders(limit=500)
    assert len(page.items) == min(500, len(scenario.expected))
    for cid, expected in scenario.expected.items():
        detail = service.get_order(cid)
        assert detail.order.status == expected.status, cid
        assert detail.order.filled_qty == expected.filled_qty, cid
        assert detail.order.avg_fill_price == expected.avg_fill_price, cid
        assert sorted(f.venue_fill_id for f in detail.fills) == sorted(expected.fill_ids), cid
    bus.close()


def test_malformed_events_are_dead_lettered_and_the_rest_is_written(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}")
    database.upgrade()
    bus = _bus(settings)
    bus.publish(HUB, [envelope(order_event("good-1"))])
    bus.publish_raw(HUB, "x", b"{not json")
    bus.publish(HUB, [Envelope.wrap("order.intent", {"client_order_id": "bad"}, partition_key="bad")])
    bus.publish(HUB, [Envelope.wrap("risk.tripped", {"reason": "x"}, partition_key="k")])
    # A hub health probe (scripts/check_quicksend_eventhubs.py) is skipped, not dead-lettered.
    bus.publish(HUB, [Envelope.wrap(QUICKSEND_EVENT, {"tag": "probe"}, partition_key="diagnostics")])
    bus.publish(HUB, [envelope(order_event("good-2", OrderStatus.FILLED, fills=[fill("f1", "10", "3")]))])
    consumer = bus.consumer(HUB, GROUP)
    stats = OrderConsumer(consumer, OrdersRepository(database), _config()).run()
    consumer.close()
    assert stats.dead_lettered == 3
    reasons = sorted(d.reason for d in bus.dead_letters(HUB, GROUP))
    assert any(r.startswith("not an envelope") for r in reasons)
    assert any("invalid order event" in r and "symbol" in r for r in reasons)
    assert any("unsupported event type 'risk.tripped'" in r for r in reasons)
    service = OrdersRepository(database)
    assert sorted(o.client_order_id for o in service.list_orders().items) == ["good-1", "good-2"]
    assert service.get_order("good-2").order.filled_qty == 10
    # A restart sees nothing new: the bad events were checkpointed past.
    again = bus.consumer(HUB, GROUP)
    assert OrderConsumer(again, service, _config(idle_exit_s=1.0)).run().events == 0
    again.close()
    bus.close()
    database.dispose()


def test_database_outage_pauses_consumption_until_it_returns(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    database = Database(postgres_url)
    database.upgrade()
    name = database.url.database
    admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
    bus = _bus(settings)
    scenario = build(400, seed=5)
    bus.publish(HUB, scenario.envelopes)

    def allow(flag: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(flag).lower()}')
            if not flag:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )

    allow(False)
    consumer = bus.consumer(HUB, GROUP)
    worker = OrderConsumer(consumer, OrdersRepository(database), _config(idle_exit_s=1.0))
    with in_background(worker.run, name="order consumer", stop=worker.request_stop) as runner:
        try:
            deadline = time.monotonic() + 20
            while worker.stats.retries < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert worker.stats.retries >= 3
            # Nothing was checkpointed while the database was down.
            assert sum(lag.events_behind for lag in consumer.lag()) == len(scenario.envelopes)
        finally:
            allow(True)
        stats = runner.join(timeout=30)
    consumer.close()
    assert stats.events == len(scenario.envelopes)
    service = OrdersRepository(database)
    for cid, expected in scenario.expected.items():
        order = service.get_order(cid).order
        assert (order.status, order.filled_qty) == (expected.status, expected.filled_qty)
    bus.close()
    database.dispose()


def test_stop_request_finishes_the_batch_in_hand(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}")
    database.upgrade()
    bus = _bus(settings)
    scenario = build(600, seed=2)
    bus.publish(HUB, scenario.envelopes)
    consumer = bus.consumer(HUB, GROUP)
    worker = OrderConsumer(consumer, OrdersRepository(database), _config(batch_size=50, idle_exit_s=None))
    original = worker.process

    def process_then_stop(batch: list[object]) -> None:
        original(batch)  # type: ignore[arg-type]
        worker.request_stop()

    worker.process = process_then_stop  # type: ignore[method-assign]
    stats = worker.run()
    assert stats.batches == 1
    assert stats.events == 50
    behind = sum(lag.events_behind for lag in consumer.lag())
    assert behind == len(scenario.envelopes) - 50
    consumer.close()
    bus.close()
    database.dispose()


def test_lag_past_60_seconds_marks_readiness_degraded(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}")
    database.upgrade()
    publisher = _bus(settings)
    publisher.publish(HUB, build(300, seed=4).envelopes)
    # The consumer's clock runs 120 s ahead: every unread event looks two minutes old.
    lagging = _bus(settings, clock=lambda: time.time() + 120)
    blob = build_blob_store(settings)
    reported: list[ConsumerStatus] = []

    def record(status: ConsumerStatus) -> None:
        reported.append(status)
        write_status(blob, settings.BLOB_CONTAINER_DATA, status)

    services = Container(settings)
    services.db.upgrade()
    checked: list[int] = []

    def check_ready(status: ConsumerStatus) -> None:
        record(status)
        if status.state == "running" and len(checked) == 0:
            with TestClient(create_app(container=services)) as client:
                body = client.get("/health/ready").json()
            checked.append(1)
            assert "order_consumer" in body["failing"]
            assert "behind exec.orders" in body["checks"]["order_consumer"]["reason"]

    consumer = lagging.consumer(HUB, GROUP)
    OrderConsumer(consumer, OrdersRepository(database), _config(batch_size=20), status=check_ready).run()
    consumer.close()
    assert checked == [1]
    assert reported[0].degraded and reported[0].lag_seconds > 60
    assert reported[-1].state == "stopped"
    stored = json.loads(
        blob.get_text(settings.BLOB_CONTAINER_DATA, f"consumers/{HUB}/{GROUP}/order-consumer.json")
    )
    assert stored["state"] == "stopped"
    with TestClient(create_app(container=Container(settings))) as client:
        ready = client.get("/health/ready").json()
    assert ready["checks"]["order_consumer"]["status"] == "ok"
    publisher.close()
    lagging.close()
    database.dispose()


@pytest.mark.parametrize("lag", [0.0, 75.0])
def test_readiness_reads_the_last_status_blob(make_settings: Callable[..., Settings], lag: float) -> None:
    settings = make_settings()
    services = Container(settings)
    services.db.upgrade()
    status = ConsumerStatus(
        name="order-consumer",
        hub=HUB,
        group=GROUP,
        state="running",
        lag_seconds=lag,
        events_behind=12 if lag else 0,
        events=100,
        dead_lettered=0,
        heartbeat_s=5.0,
        updated_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        host="test",
        pid=1,
    )
    write_status(services.blob, settings.BLOB_CONTAINER_DATA, status)
    with TestClient(create_app(container=services)) as client:
        response = client.get("/health/ready")
    check = response.json()["checks"]["order_consumer"]
    if lag:
        assert response.status_code == 503
        assert "75 s behind" in check["reason"]
    else:
        assert check["status"] == "ok"


def test_event_the_database_refuses_is_dead_lettered_and_its_batch_still_lands(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    database = Database(postgres_url)
    database.upgrade()
    bus = _bus(settings)
    # NUMERIC(28, 10) holds at most 18 digits before the point: PostgreSQL refuses this qty.
    bus.publish(
        HUB,
        [
            envelope(order_event("ok-1")),
            envelope(order_event("too-big", qty="1" + "0" * 20)),
            envelope(order_event("ok-2", OrderStatus.FILLED, fills=[fill("f1", "10", "2")])),
        ],
    )
    consumer = bus.consumer(HUB, GROUP)
    stats = OrderConsumer(consumer, OrdersRepository(database), _config()).run()
    consumer.close()
    assert stats.dead_lettered == 1
    (letter,) = bus.dead_letters(HUB, GROUP)
    assert "database refused the event" in letter.reason and b"too-big" in letter.raw
    service = OrdersRepository(database)
    assert sorted(o.client_order_id for o in service.list_orders().items) == ["ok-1", "ok-2"]
    assert service.get_order("ok-2").order.filled_qty == 10
    bus.close()
    database.dispose()
