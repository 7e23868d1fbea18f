"""The venue-updates worker against a loopback Alpaca, the real local bus and SQLite.

Frames: ``real_trade_update_new_aapl.json`` is a captured frame; the others
(``trade_update_*``) are written from Alpaca's documented frame format because no capture
with a known source exists (see ``tests/fixtures/alpaca_trading/SOURCES.md``). The REST side
serves ``real_order_filled_limit_spy.json`` (a captured filled order) and orders/activities
written in the documented shapes.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import Container
from app.bus.envelope import Envelope
from app.bus.local import LocalBus, LocalBusConfig
from app.bus.topology import topology
from app.config import Settings
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE, OrderEvent, OrderType
from app.errors import BusError, ConfigError, RetryableError
from app.execution.alpaca.config import AlpacaTradingConfig
from app.execution.alpaca.stream import AlpacaVenueFeed
from app.storage.blob import BlobStore
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository
from app.workers.consumer_status import ConsumerStatus, read_status, write_status
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from app.workers.venue_updates import WORKER_NAME, VenueUpdates, VenueUpdatesConfig, register_readiness
from tests.integration.venue.alpaca_venue import KEY, SECRET, VenueServer, venue_server
from tests.servers import free_port, wait_for
from tests.unit.execution.alpaca_replay import load

HUB = "exec.orders"
GROUP = "orchestrator"
MSFT_ID = "c2a0f5a4-93d1-4f0e-8b57-6e1d2b9a7c31"
D = Decimal


def _config(**overrides: Any) -> VenueUpdatesConfig:
    values: dict[str, Any] = {
        "hub": HUB,
        "venue": "alpaca-paper",
        "heartbeat_s": 0.2,
        "max_frame_age_s": 1.0,
        "connect_timeout_s": 2.0,
        "reconnect_initial_s": 0.1,
        "reconnect_max_s": 0.4,
        "reconnect_max_attempts": 8,
        "catchup_overlap_s": 60.0,
        "catchup_lookback_s": 24 * 3600.0,
        "sweep_interval_s": 3600.0,
        "publish_retry_initial_s": 0.05,
        "publish_retry_max_s": 0.2,
    }
    values.update(overrides)
    return VenueUpdatesConfig(**values)


def _feed(venue: VenueServer, secret: str = SECRET) -> AlpacaVenueFeed:
    config = AlpacaTradingConfig(
        api_key=KEY, api_secret=secret, base_url=venue.rest_url, stream_base_url=venue.stream_url
    )
    return AlpacaVenueFeed(config)


def _bus(settings: Settings) -> LocalBus:
    return LocalBus(LocalBusConfig(path=settings.DATA_DIR / "bus.db"), topology(settings))


def _clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


@contextmanager
def running(worker: VenueUpdates) -> Iterator[list[BaseException]]:
    """Run the worker in a thread; stop it on exit. Yields the errors it raised: a stop by
    ConfigError or RetryableError is for the test to check, anything else fails the test."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="venue-updates", daemon=True)
    thread.start()
    try:
        yield errors
    finally:
        worker.request_stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the worker did not stop"
        unexpected = [e for e in errors if not isinstance(e, (ConfigError, RetryableError))]
        if unexpected:
            raise AssertionError(f"the worker failed: {unexpected[0]!r}") from unexpected[0]


def _published(bus: LocalBus) -> list[Envelope]:
    return [d.envelope for d in bus.peek(HUB, 1000) if d.envelope is not None]


def _updates(bus: LocalBus) -> list[tuple[str, str, list[str]]]:
    return [
        (e.payload["client_order_id"], e.payload["status"], [f["venue_fill_id"] for f in e.payload["fills"]])
        for e in _published(bus)
        if e.type == ORDER_EVENT_UPDATE
    ]


def _consume(bus: LocalBus, database: Database) -> None:
    config = OrderConsumerConfig(
        hub=HUB, group=GROUP, poll_timeout_s=0.2, idle_exit_s=1.0, lag_interval_s=0.0
    )
    consumer = bus.consumer(HUB, GROUP)
    try:
        stats = OrderConsumer(consumer, OrdersRepository(database), config).run()
    finally:
        consumer.close()
    assert stats.dead_lettered == 0


def _database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}")
    database.upgrade()
    return database


def _intent(frame_name: str) -> Envelope:
    order = load(frame_name)["data"]["order"]
    intent = OrderEvent(
        client_order_id=order["client_order_id"],
        symbol=order["symbol"],
        side=order["side"],
        type=OrderType.LIMIT,
        qty=D(order["qty"]),
        limit_price=D(order["limit_price"]),
        strategy="breakout",
        run_id="run-1",
        ts=datetime.fromisoformat(order["created_at"].replace("Z", "+00:00")),
    )
    return Envelope.wrap(
        ORDER_EVENT_INTENT, intent, partition_key=intent.symbol, event_id=f"intent-{order['id']}"
    )


def test_every_lifecycle_frame_is_published_and_the_tables_follow_the_venue(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    bus, database = _bus(settings), _database(tmp_path)
    # the router published two of these orders; the venue adds the rest
    bus.publish(HUB, [_intent("trade_update_new_msft.json"), _intent("trade_update_expired_tsla.json")])
    frames = [
        "real_trade_update_new_aapl.json",
        "trade_update_canceled_aapl.json",
        "trade_update_new_msft.json",
        "trade_update_partial_fill_msft.json",
        "trade_update_fill_msft.json",
        "trade_update_fill_msft.json",  # redelivered: the same execution must not be stored twice
        "trade_update_expired_tsla.json",
        "trade_update_rejected_nvda.json",
    ]
    with venue_server() as venue:
        worker = VenueUpdates(
            bus, _config(), feed=_feed(venue), clock=_clock(datetime(2026, 11, 25, 15, tzinfo=UTC))
        )
        with running(worker):
            wait_for(lambda: venue.connected() == 1, 10, "the stream subscription")
            for name in frames:
                venue.send(load(name))
            wait_for(lambda: worker.stats.frames == len(frames), 10, "every frame")
        assert venue.lost_frames == 0
    assert worker.stats.repeats_skipped == 1 and worker.stats.frames_rejected == 0
    aapl = "11111111-2222-3333-4444-555555555555"
    msft, tsla, nvda = (
        "rt-msft-breakout-20261125-buy",
        "rt-tsla-breakout-20261125-buy",
        "rt-nvda-breakout-20261125-sell",
    )
    assert _updates(bus) == [
        (aapl, "new", []),
        (aapl, "canceled", []),
        (msft, "new", []),
        (msft, "partially_filled", [f"{MSFT_ID}:7"]),
        (msft, "filled", [f"{MSFT_ID}:20"]),
        (tsla, "expired", []),
        (nvda, "rejected", []),
    ]
    published = [e for e in _published(bus) if e.type == ORDER_EVENT_UPDATE]
    assert {e.partition_key for e in published} == {"AAPL", "MSFT", "TSLA", "NVDA"}
    assert all(e.partition_key == e.payload["symbol"] for e in published)
    assert len({e.event_id for e in published}) == len(published)

    _consume(bus, database)
    service = OrdersRepository(database)
    statuses = {o.client_order_id: o.status for o in service.list_orders(limit=50).items}
    assert statuses == {aapl: "canceled", msft: "filled", tsla: "expired", nvda: "rejected"}
    detail = service.get_order(msft)
    fill_frame = load("trade_update_fill_msft.json")["data"]
    assert detail.order.filled_qty == D("20")
    assert detail.order.avg_fill_price == D(fill_frame["order"]["filled_avg_price"])
    assert detail.order.strategy == "breakout"  # the venue's reports keep the router's metadata
    assert detail.order.broker_order_id == MSFT_ID
    assert [(f.venue_fill_id, f.qty) for f in detail.fills] == [
        (f"{MSFT_ID}:7", D("7")),
        (f"{MSFT_ID}:20", D("13")),
    ]
    database.dispose()
    bus.close()


def _msft_filled_at_the_venue(venue: VenueServer) -> None:
    """What Alpaca's REST API says once the MSFT order completed while the client was away."""
    order = copy.deepcopy(load("trade_update_fill_msft.json")["data"]["order"])
    partial = load("trade_update_partial_fill_msft.json")["data"]
    fill = load("trade_update_fill_msft.json")["data"]
    rejected = copy.deepcopy(load("trade_update_rejected_nvda.json")["data"]["order"])
    activity = {"activity_type": "FILL", "side": "buy", "symbol": "MSFT", "order_id": MSFT_ID}
    with venue.lock:
        venue.orders = {MSFT_ID: order, rejected["id"]: rejected}
        venue.activities = [
            activity
            | {
                "id": "20261125100212903::5f1c9f7e-2b64-4d0b-9a59-0c3e7b6d2f18",
                "transaction_time": partial["timestamp"],
                "type": "partial_fill",
                "price": partial["price"],
                "qty": partial["qty"],
                "cum_qty": "7",
                "leaves_qty": "13",
                "order_status": "partially_filled",
            },
            activity
            | {
                "id": "20261125100344120::9e2d7c1b-4a3f-4d5e-8b6a-1f0c9d8e7b6a",
                "transaction_time": fill["timestamp"],
                "type": "fill",
                "price": fill["price"],
                "qty": fill["qty"],
                "cum_qty": "20",
                "leaves_qty": "0",
                "order_status": "filled",
            },
        ]


def test_a_dropped_stream_reconnects_with_backoff_and_the_catch_up_loses_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    bus, database = _bus(settings), _database(tmp_path)
    config = _config()
    with venue_server() as venue:
        worker = VenueUpdates(
            bus, config, feed=_feed(venue), clock=_clock(datetime(2026, 11, 25, 15, tzinfo=UTC))
        )
        with running(worker):
            wait_for(lambda: venue.connected() == 1, 10, "the stream subscription")
            venue.send(load("trade_update_new_msft.json"))
            venue.send(load("trade_update_partial_fill_msft.json"))
            wait_for(lambda: worker.stats.frames == 2, 10, "the first frames")
            # the connection breaks; Alpaca refuses the next three handshakes; meanwhile the
            # order completes and another is rejected, and their frames go nowhere
            with venue.lock:
                venue.refuse_next = 3
            venue.drop()
            _msft_filled_at_the_venue(venue)
            venue.send(load("trade_update_fill_msft.json"))
            venue.send(load("trade_update_rejected_nvda.json"))
            wait_for(lambda: venue.connected() == 2, 15, "the reconnect")
            wait_for(lambda: worker.stats.catch_ups == 2, 10, "the catch-up")
            # a late duplicate of the fill arrives on the new connection after the catch-up
            venue.send(load("trade_update_fill_msft.json"))
            wait_for(lambda: worker.stats.frames == 3, 10, "the late frame")
        assert venue.lost_frames == 2
        handshakes = list(venue.handshakes)
        orders_queries = [q for path, q in venue.queries if path == "/v2/orders"]
    # 1 first connect + 4 after the drop (3 refused); the waits grow, within the bounds
    assert len(handshakes) == 5
    gaps = [b - a for a, b in itertools.pairwise(handshakes[1:])]  # the waits after each refusal
    initial, most = config.reconnect_initial_s, config.reconnect_max_s
    for attempt, gap in enumerate(gaps, start=1):
        floor = min(initial * 2 ** (attempt - 1), most)
        assert floor * 0.9 <= gap <= floor + initial + 0.5, (attempt, gaps)
    # the catch-up asked from the last update seen, less the overlap
    after = [q["after"][0] for q in orders_queries if q.get("status") == ["all"]]
    assert after[-1].startswith("2026-11-25T15:01:12")
    assert worker.stats.repeats_skipped >= 1

    msft = "rt-msft-breakout-20261125-buy"
    updates = _updates(bus)
    assert updates[:2] == [(msft, "new", []), (msft, "partially_filled", [f"{MSFT_ID}:7"])]
    assert (msft, "filled", [f"{MSFT_ID}:20"]) in updates[2:]
    assert ("rt-nvda-breakout-20261125-sell", "rejected", []) in updates[2:]
    fill_ids = [fid for _, _, fills in updates for fid in fills]
    assert sorted(fill_ids) == sorted({*fill_ids})  # every execution published once

    _consume(bus, database)
    service = OrdersRepository(database)
    detail = service.get_order(msft)
    assert detail.order.status == "filled" and detail.order.filled_qty == D("20")
    assert [f.venue_fill_id for f in detail.fills] == [f"{MSFT_ID}:7", f"{MSFT_ID}:20"]
    assert len(service.list_fills(limit=50).items) == 2
    assert service.get_order("rt-nvda-breakout-20261125-sell").order.status == "rejected"
    database.dispose()
    bus.close()


def test_a_fresh_start_adopts_an_order_filled_while_the_worker_was_down(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    bus, database = _bus(settings), _database(tmp_path)
    spy = load("real_order_filled_limit_spy.json")
    with venue_server() as venue:
        venue.orders = {spy["id"]: spy}
        venue.activities = [
            {
                "id": "20221014112833575::0d4f2b9e-5a1c-4e7b-9c3d-2b6a8f1e0c47",
                "activity_type": "FILL",
                "transaction_time": spy["filled_at"],
                "type": "fill",
                "price": spy["filled_avg_price"],
                "qty": spy["filled_qty"],
                "cum_qty": spy["filled_qty"],
                "leaves_qty": "0",
                "side": "buy",
                "symbol": "SPY",
                "order_id": spy["id"],
                "order_status": "filled",
            }
        ]
        clock = _clock(datetime(2022, 10, 14, 20, tzinfo=UTC))
        worker = VenueUpdates(bus, _config(), feed=_feed(venue), clock=clock)
        with running(worker):
            wait_for(lambda: worker.stats.catch_ups == 1, 10, "the first catch-up")
    assert _updates(bus) == [(spy["client_order_id"], "filled", [f"{spy['id']}:10"])]
    _consume(bus, database)
    detail = OrdersRepository(database).get_order(spy["client_order_id"])
    assert (detail.order.symbol, detail.order.status, detail.order.filled_qty) == ("SPY", "filled", D("10"))
    assert detail.order.avg_fill_price == D("361.92")
    database.dispose()
    bus.close()


def test_a_silent_stream_is_detected_within_its_age_and_reconnected(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(BLOB_URL=f"file://{tmp_path / 'blobs'}", VENUE_MAX_FRAME_AGE_S=1.0)
    bus = _bus(settings)
    blob = BlobStore.local(tmp_path / "blobs")
    container = settings.BLOB_CONTAINER_DATA
    config = _config(max_frame_age_s=1.0, heartbeat_s=0.2)
    with venue_server() as venue:
        worker = VenueUpdates(
            bus,
            config,
            feed=_feed(venue),
            clock=_clock(datetime(2026, 11, 25, 15, tzinfo=UTC)),
            status=lambda record: write_status(blob, container, record),
        )
        with running(worker):
            wait_for(lambda: venue.connected() == 1, 10, "the stream subscription")
            time.sleep(3 * config.heartbeat_s)  # quiet but alive: pings are answered
            assert venue.connected() == 1 and worker.stats.silent_streams == 0
            assert (worker.frame_age_s() or 0.0) < config.max_frame_age_s
            venue.go_silent()
            silent_from = time.monotonic()
            wait_for(lambda: venue.connected() == 2, 10, "the reconnect after silence")
            detected_after = time.monotonic() - silent_from
            wait_for(lambda: worker.stats.catch_ups == 2, 10, "the catch-up after the reconnect")
            time.sleep(2 * config.heartbeat_s)
            status = read_status(blob, container, WORKER_NAME, HUB, "alpaca-paper")
        assert worker.stats.silent_streams == 1
        assert config.max_frame_age_s * 0.8 <= detected_after <= config.max_frame_age_s + 2.0
        assert status is not None and status.state == "running"
        assert status.lag_seconds < config.max_frame_age_s
    stopped = read_status(blob, container, WORKER_NAME, HUB, "alpaca-paper")
    assert stopped is not None and stopped.state == "stopped"
    bus.close()


def test_the_readiness_check_fails_while_the_stream_is_silent(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(
        BROKER="alpaca", BLOB_URL=f"file://{tmp_path / 'blobs'}", VENUE_MAX_FRAME_AGE_S=5.0
    )
    services = Container(settings)
    register_readiness(services)
    check = services.readiness_checks()["venue_updates"]
    check()  # never ran here: ready
    worker = VenueUpdates(_bus(settings), _config(venue="alpaca-paper"))
    record = worker.status_record()
    write_status(services.blob, settings.BLOB_CONTAINER_DATA, _with(record, state="running", lag_seconds=4.0))
    check()  # within twice the age
    write_status(
        services.blob, settings.BLOB_CONTAINER_DATA, _with(record, state="running", lag_seconds=11.0)
    )
    with pytest.raises(BusError, match="silent for 11 s"):
        check()
    write_status(
        services.blob, settings.BLOB_CONTAINER_DATA, _with(record, state="stopped", lag_seconds=11.0)
    )
    check()
    services.close()


def _with(record: ConsumerStatus, **changes: Any) -> ConsumerStatus:
    return replace(record, **changes)


def test_refused_credentials_stop_the_worker_without_retrying(make_settings: Callable[..., Settings]) -> None:
    bus = _bus(make_settings())
    with venue_server() as venue:
        worker = VenueUpdates(bus, _config(), feed=_feed(venue, secret="wrong"))
        with running(worker) as errors:
            wait_for(lambda: bool(errors), 10, "the worker to give up")
        assert len(venue.handshakes) == 1
    assert isinstance(errors[0], ConfigError) and "refused the stream credentials" in str(errors[0])
    assert "wrong" not in str(errors[0])
    bus.close()


def test_an_unreachable_venue_fails_after_the_configured_attempts(
    make_settings: Callable[..., Settings],
) -> None:
    bus = _bus(make_settings())
    port = free_port()
    config = AlpacaTradingConfig(
        api_key=KEY,
        api_secret=SECRET,
        base_url=f"http://127.0.0.1:{port}",
        stream_base_url=f"ws://127.0.0.1:{port}/stream",
    )
    worker = VenueUpdates(
        bus, _config(reconnect_max_attempts=3, reconnect_initial_s=0.05), feed=AlpacaVenueFeed(config)
    )
    started = time.monotonic()
    with pytest.raises(RetryableError, match="3 connects in a row failed"):
        worker.run()
    assert time.monotonic() - started >= 0.05 + 0.1  # two back-offs were waited
    assert worker.stats.reconnects == 2
    bus.close()


def test_a_fill_that_reveals_a_missed_execution_triggers_a_catch_up(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    bus, database = _bus(settings), _database(tmp_path)
    with venue_server() as venue:
        worker = VenueUpdates(
            bus, _config(), feed=_feed(venue), clock=_clock(datetime(2026, 11, 25, 15, tzinfo=UTC))
        )
        with running(worker):
            wait_for(lambda: venue.connected() == 1, 10, "the stream subscription")
            _msft_filled_at_the_venue(venue)
            venue.send(load("trade_update_new_msft.json"))
            # the partial fill's frame never comes: the fill frame says 7 were filled before it
            venue.send(load("trade_update_fill_msft.json"))
            wait_for(lambda: worker.stats.catch_ups == 2, 10, "the catch-up the gap asks for")
        assert venue.connected() == 1  # caught up on the same connection
    _consume(bus, database)
    detail = OrdersRepository(database).get_order("rt-msft-breakout-20261125-buy")
    assert [(f.venue_fill_id, f.qty) for f in detail.fills] == [
        (f"{MSFT_ID}:7", D("7")),
        (f"{MSFT_ID}:20", D("13")),
    ]
    assert detail.order.filled_qty == D("20")
    database.dispose()
    bus.close()


def test_the_same_frames_get_the_same_event_ids_in_a_fresh_process(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    frames = [
        "trade_update_new_msft.json",
        "trade_update_partial_fill_msft.json",
        "trade_update_fill_msft.json",
    ]
    ids = []
    for run in ("first", "second"):
        bus = LocalBus(LocalBusConfig(path=tmp_path / f"{run}.db"), topology(make_settings()))
        with venue_server() as venue:
            worker = VenueUpdates(
                bus, _config(), feed=_feed(venue), clock=_clock(datetime(2026, 11, 25, 15, tzinfo=UTC))
            )
            with running(worker):
                wait_for(lambda venue=venue: venue.connected() == 1, 10, "the stream subscription")
                for name in frames:
                    venue.send(load(name))
                wait_for(lambda worker=worker: worker.stats.frames == len(frames), 10, "every frame")
        ids.append([e.event_id for e in _published(bus)])
        bus.close()
    assert len(ids[0]) == len(frames) and ids[0] == ids[1]
