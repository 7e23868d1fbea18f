"""Router -> exec.orders -> order consumer -> trading.orders/fills, and the guard reading them back."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.storage.models import Fill, Order
from app.storage.repositories.orders import OrdersRepository
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig

PAYLOAD = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "end": "2026-11-20T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
}


def _consume(services: Container) -> None:
    settings = services.settings
    config = OrderConsumerConfig(
        hub=settings.EH_HUB_ORDERS, group=settings.EH_CONSUMER_GROUP, poll_timeout_s=0.1, idle_exit_s=0.5
    )
    consumer = services.bus.consumer(config.hub, config.group)
    try:
        OrderConsumer(consumer, OrdersRepository(services.db), config).run()
    finally:
        consumer.close()


def test_retried_execution_is_recorded_once_with_its_fill(make_settings: Callable[..., Settings]) -> None:
    # the payload's intent is a sell: the fresh paper account fills it only with shorting on
    services = Container(make_settings(SIM_ALLOW_SHORT=True))
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        first = client.post("/router/run", json=PAYLOAD | {"execute_orders": True}).json()
        retry = client.post("/router/run", json=PAYLOAD | {"execute_orders": True}).json()
        _consume(services)
    assert first["executed"] and retry["executed"]
    with services.db.session() as session:
        orders = session.scalars(select(Order)).all()
        fills = session.scalars(select(Fill)).all()
    assert [o.client_order_id for o in orders] == [first["intent"]["client_order_id"]]
    assert orders[0].status == "filled" and orders[0].strategy == "breakout"
    assert len(fills) == 1 and fills[0].qty == Decimal(first["execution"]["fills"][0]["qty"])


def test_recorded_open_intent_trips_max_open_orders(make_settings: Callable[..., Settings]) -> None:
    services = Container(make_settings(KILL_SWITCH_MAX_OPEN_ORDERS=1))
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        first = client.post("/router/run", json=PAYLOAD).json()
        _consume(services)  # the intent is now an open order (status new)
        second = client.post("/router/run", json=PAYLOAD | {"symbol": "MSFT"}).json()
        metrics = client.get("/risk/kill-switch").json()
    assert first["published"] is True
    assert second["fallback_reason"] == "kill_switch_max_orders" and second["published"] is False
    assert metrics["trips"]["kill_switch_max_orders"] == 1
