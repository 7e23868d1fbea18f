"""Orders past their time in force are expired by the sweep, on a controlled clock.

The intents travel the real path: published to the local bus, written by the real order
consumer to SQLite; the sweep reads the open orders through the orders repository and publishes
``expired`` updates, which the consumer applies. 2026-11-27 closes early (13:00 New York =
18:00 UTC); 2026-11-30 is the next session (close 21:00 UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from app.bus.envelope import Envelope
from app.bus.local import LocalBus, LocalBusConfig
from app.bus.topology import topology
from app.config import Settings
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE, OrderEvent, OrderStatus
from app.risk.guard import GuardLimits, GuardRequest, OrderGuard
from app.storage.db import Database
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.orders import OrdersRepository
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from app.workers.venue_updates import VenueUpdates, VenueUpdatesConfig, open_orders_from

HUB, GROUP = "exec.orders", "orchestrator"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _event(cid: str, symbol: str, ts: str, **fields: object) -> OrderEvent:
    values: dict[str, object] = {"client_order_id": cid, "symbol": symbol, "side": "buy", "qty": Decimal(3)}
    values.update(fields)
    return OrderEvent.model_validate({**values, "ts": utc(ts), "strategy": "breakout"})


def _publish(bus: LocalBus, event: OrderEvent) -> None:
    kind = ORDER_EVENT_INTENT if event.status is OrderStatus.NEW else ORDER_EVENT_UPDATE
    bus.publish(HUB, [Envelope.wrap(kind, event, partition_key=event.symbol)])


def _consume(bus: LocalBus, database: Database) -> None:
    config = OrderConsumerConfig(
        hub=HUB, group=GROUP, poll_timeout_s=0.2, idle_exit_s=0.6, lag_interval_s=0.0
    )
    consumer = bus.consumer(HUB, GROUP)
    try:
        assert OrderConsumer(consumer, OrdersRepository(database), config).run().dead_lettered == 0
    finally:
        consumer.close()


def _statuses(database: Database) -> dict[str, str]:
    return {o.client_order_id: o.status for o in OrdersRepository(database).list_orders(limit=100).items}


def test_the_sweep_expires_orders_after_their_session_and_frees_the_open_order_limit(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    bus = LocalBus(LocalBusConfig(path=settings.DATA_DIR / "bus.db"), topology(settings))
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}")
    database.upgrade()
    # intents published with execute_orders=false: nothing ever reaches a venue
    _publish(bus, _event("early", "AAPL", "2026-11-27T15:00"))
    _publish(bus, _event("after-close", "MSFT", "2026-11-27T19:00"))
    _publish(bus, _event("gtc", "NVDA", "2026-11-27T15:00", time_in_force="gtc"))
    _publish(bus, _event("opening", "AMZN", "2026-11-27T19:30", time_in_force="opg"))
    # one order Alpaca holds, and one that is already done
    _publish(bus, _event("at-venue", "TSLA", "2026-11-27T15:00"))
    _publish(
        bus,
        _event("at-venue", "TSLA", "2026-11-27T15:00:01", status="accepted", broker_order_id="alp-7"),
    )
    _publish(bus, _event("done", "SPY", "2026-11-27T15:00", status="canceled"))
    _consume(bus, database)
    assert _statuses(database) == {
        "early": "new",
        "after-close": "new",
        "gtc": "new",
        "opening": "new",
        "at-venue": "accepted",
        "done": "canceled",
    }
    guard = OrderGuard(GuardRepository(database), GuardLimits(max_open_orders=5))
    request = GuardRequest(symbol="GOOG", notional=1000.0)
    assert guard.check(request, now=utc("2026-11-27T18:01")).reason == "kill_switch_max_orders"

    config = VenueUpdatesConfig(hub=HUB, venue="alpaca-paper", sweep_venue_orders=False)
    worker = VenueUpdates(bus, config, open_orders=open_orders_from(OrdersRepository(database), page_size=2))
    assert worker.sweep_once(utc("2026-11-27T17:59:59")) == []
    expired = worker.sweep_once(utc("2026-11-27T18:00"))  # the early close
    assert [(e.client_order_id, e.status, e.strategy) for e in expired] == [("early", "expired", "breakout")]
    _consume(bus, database)
    assert _statuses(database)["early"] == "expired"
    assert worker.sweep_once(utc("2026-11-27T18:00")) == []  # no longer open: nothing to do
    assert guard.check(request, now=utc("2026-11-27T18:01")).allowed

    expired = worker.sweep_once(utc("2026-11-30T21:00"))  # the next session's close
    assert sorted(e.client_order_id for e in expired) == ["after-close", "opening"]
    _consume(bus, database)
    statuses = _statuses(database)
    assert (statuses["after-close"], statuses["opening"], statuses["gtc"]) == ("expired", "expired", "new")
    assert statuses["at-venue"] == "accepted"  # Alpaca reports its own expiries

    # the simulated broker has no stream: there the sweep expires every open order
    simulated = VenueUpdates(
        bus,
        VenueUpdatesConfig(hub=HUB, venue="simulated", sweep_venue_orders=True),
        open_orders=open_orders_from(OrdersRepository(database)),
    )
    assert [e.client_order_id for e in simulated.sweep_once(utc("2026-11-30T21:00"))] == ["at-venue"]
    _consume(bus, database)
    assert _statuses(database)["at-venue"] == "expired"
    assert worker.stats.expired == 3 and simulated.stats.expired == 1
    detail = OrdersRepository(database).get_order("early")
    assert detail.order.qty == Decimal(3) and detail.fills == []
    database.dispose()
    bus.close()
