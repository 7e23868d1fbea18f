"""``ai-trader venue sweep`` and ``ai-trader venue stream`` on the embedded backends."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from typer.testing import CliRunner

from app.bootstrap import Container
from app.bus.envelope import Envelope
from app.cli.main import app as cli
from app.config import load_settings
from app.domain.orders import ORDER_EVENT_INTENT, OrderEvent
from app.storage.repositories.orders import OrdersRepository
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig


def _apply_pending(services: Container) -> None:
    settings = services.settings
    consumer = services.bus.consumer(settings.EH_HUB_ORDERS, settings.EH_CONSUMER_GROUP)
    config = OrderConsumerConfig(
        hub=settings.EH_HUB_ORDERS, group=settings.EH_CONSUMER_GROUP, poll_timeout_s=0.2, idle_exit_s=0.6
    )
    try:
        OrderConsumer(consumer, OrdersRepository(services.db), config).run()
    finally:
        consumer.close()


def test_sweep_command_expires_a_stale_intent_and_prints_it() -> None:
    services = Container(load_settings())
    services.db.upgrade()
    intent = OrderEvent(
        client_order_id="rt-aapl-breakout-20261127",
        symbol="AAPL",
        side="buy",
        qty=Decimal(2),
        ts=datetime(2026, 11, 27, 15, tzinfo=UTC),
    )
    services.bus.publish(
        services.settings.EH_HUB_ORDERS, [Envelope.wrap(ORDER_EVENT_INTENT, intent, partition_key="AAPL")]
    )
    _apply_pending(services)
    runner = CliRunner()
    early = runner.invoke(cli, ["venue", "sweep", "--at", "2026-11-27T17:59:00+00:00"])
    assert early.exit_code == 0, early.output
    assert early.stdout == ""
    swept = runner.invoke(cli, ["venue", "sweep", "--at", "2026-11-27T18:00:00+00:00"])
    assert swept.exit_code == 0, swept.output
    assert swept.stdout.strip() == "expired rt-aapl-breakout-20261127 AAPL (day)"
    _apply_pending(services)
    assert OrdersRepository(services.db).get_order("rt-aapl-breakout-20261127").order.status == "expired"
    services.close()


def test_bad_arguments_exit_2_with_the_reason() -> None:
    runner = CliRunner()
    naive = runner.invoke(cli, ["venue", "sweep", "--at", "2026-11-27T18:00:00"])
    assert naive.exit_code == 2 and "time zone" in naive.output
    unknown = runner.invoke(cli, ["venue", "stream", "NOT_A_KEY=1"])
    assert unknown.exit_code == 2 and "unknown key 'NOT_A_KEY'" in unknown.output
    inverted = runner.invoke(cli, ["venue", "stream", "VENUE_HEARTBEAT_S=40", "VENUE_MAX_FRAME_AGE_S=30"])
    assert inverted.exit_code == 2 and "must be below VENUE_MAX_FRAME_AGE_S" in inverted.output
    keyless = runner.invoke(cli, ["venue", "stream", "BROKER=alpaca"])
    assert keyless.exit_code == 2
