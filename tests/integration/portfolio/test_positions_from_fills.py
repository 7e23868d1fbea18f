"""The book (``trading.positions``) follows the fills in the consumer's own transaction,
exactly once: redelivered fills, any batch boundaries and concurrent writers change nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from app.bus.local import LocalBus, LocalBusConfig
from app.bus.topology import topology
from app.config import Settings
from app.domain.orders import OrderEvent, OrderSide, OrderStatus
from app.errors import InputError, RetryableError
from app.portfolio import BookFill, Position, PositionBook
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.storage.repositories.portfolio import PortfolioRepository
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from tests.integration.orders.scenario import T0, build, fill, order_event

HUB = "exec.orders"
GROUP = "orchestrator"


def _sell(event: OrderEvent) -> OrderEvent:
    return event.model_copy(update={"side": OrderSide.SELL})


def _round_trip() -> list[SourcedOrderEvent]:
    """Buy 10 @ 100 in two fills (one with a fee), sell 4 @ 110, sell 8 @ 90 (flips to short 2)."""
    buy = order_event(
        "rt-buy",
        OrderStatus.FILLED,
        qty="10",
        fills=[fill("b1", "6", "100"), fill("b2", "4", "100", T0 + timedelta(seconds=1))],
    )
    buy = buy.model_copy(
        update={"fills": [buy.fills[0], buy.fills[1].model_copy(update={"fee": Decimal("1.5")})]}
    )
    sell_1 = _sell(
        order_event(
            "rt-sell-1",
            OrderStatus.FILLED,
            qty="4",
            fills=[fill("s1", "4", "110", T0 + timedelta(minutes=1))],
        )
    )
    sell_2 = _sell(
        order_event(
            "rt-sell-2", OrderStatus.FILLED, qty="8", fills=[fill("s2", "8", "90", T0 + timedelta(minutes=2))]
        )
    )
    return [SourcedOrderEvent(e, f"evt-{e.client_order_id}") for e in (buy, sell_1, sell_2)]


def _expected_book(events: list[SourcedOrderEvent], account: str = "simulated") -> dict[str, Position]:
    book = PositionBook()
    fills = [
        BookFill(
            account=account,
            symbol=s.event.symbol,
            side=s.event.side,
            quantity=f.qty,
            price=f.price,
            fee=f.fee,
            ts=f.ts,
            fill_id=f"{s.event.client_order_id}/{f.venue_fill_id}",
        )
        for s in events
        for f in s.event.fills
    ]
    for one in sorted(fills, key=lambda f: (f.ts, f.fill_id)):
        book.apply_fill(one)
    return {p.symbol: p for p in book.all_positions(account)}


def test_fills_update_the_position_in_the_same_write_and_redelivery_changes_nothing(
    database: Database,
) -> None:
    orders = OrdersRepository(database)
    book = PortfolioRepository(database)
    events = _round_trip()
    result = orders.apply(events)
    assert result.positions_updated == 1
    stored = {p.symbol: p for p in book.positions("simulated", include_flat=True)}
    expected = _expected_book(events)
    assert stored == expected
    aapl = stored["AAPL"]
    # 10 bought @ 100 (+1.50 fee); 4 sold @ 110 realise +40; 6 of 8 sold @ 90 realise -60; short 2 @ 90
    assert (aapl.quantity, aapl.average_cost) == (Decimal(-2), Decimal(90))
    assert aapl.realised_pnl == Decimal("-21.5")
    assert aapl.fees == Decimal("1.5")
    assert aapl.last_fill_at == T0 + timedelta(minutes=2)

    # Redelivered whole, in pieces, and reordered: nothing moves.
    again = orders.apply(events)
    assert (again.fills_inserted, again.positions_updated) == (0, 0)
    for event in reversed(events):
        orders.apply([event])
    assert {p.symbol: p for p in book.positions("simulated", include_flat=True)} == expected


def test_position_equals_the_sum_of_fills_whatever_the_batch_boundaries(database: Database) -> None:
    scenario = build(1200, seed=5)
    events = [
        SourcedOrderEvent(OrderEvent.model_validate(e.payload), e.event_id, e.payload)
        for e in scenario.envelopes
    ]
    orders = OrdersRepository(database, account="alpaca-paper")
    for start in range(0, len(events), 37):
        orders.apply(events[start : start + 37])
    orders.apply(events[:400])  # a producer retry
    expected: dict[str, Decimal] = {}
    for order in scenario.expected.values():
        expected[order.symbol] = expected.get(order.symbol, Decimal(0)) + order.filled_qty
    held = {p.symbol: p.quantity for p in PortfolioRepository(database).positions("alpaca-paper")}
    assert held == {s: q for s, q in expected.items() if q}
    assert PortfolioRepository(database).positions("simulated") == []


def test_consumer_keeps_the_book_equal_to_the_fills(
    database: Database, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    bus = LocalBus(LocalBusConfig(path=settings.DATA_DIR / "bus.db"), topology(settings))
    scenario = build(1500, seed=13)
    bus.publish(HUB, scenario.envelopes)
    bus.publish(HUB, scenario.envelopes[:500])  # redelivered by a producer retry
    config = OrderConsumerConfig(hub=HUB, group=GROUP, batch_size=150, poll_timeout_s=0.2, idle_exit_s=1.0)
    consumer = bus.consumer(HUB, GROUP)
    OrderConsumer(consumer, OrdersRepository(database), config).run()
    consumer.close()
    bus.close()
    expected: dict[str, Decimal] = {}
    for order in scenario.expected.values():
        expected[order.symbol] = expected.get(order.symbol, Decimal(0)) + order.filled_qty
    positions = PortfolioRepository(database).positions("simulated")
    assert {p.symbol: p.quantity for p in positions} == {s: q for s, q in expected.items() if q}
    # all buys: the cost basis is the value of the fills
    fills = OrdersRepository(database).list_fills(limit=500)
    assert fills.items
    for position in positions:
        assert position.realised_pnl == -position.fees


def test_concurrent_writers_of_one_symbol_lose_no_fill(database: Database) -> None:
    """Different orders of the same symbol written at once: the position row lock serialises them."""
    writers = 4
    per_writer = 25
    errors: list[BaseException] = []

    def write(index: int) -> None:
        repo = OrdersRepository(database)
        try:
            for n in range(per_writer):
                cid = f"cc-{index}-{n}"
                event = order_event(cid, OrderStatus.FILLED, qty="1", fills=[fill(f"{cid}-f", "1", "50")])
                for attempt in range(50):
                    try:
                        repo.apply([SourcedOrderEvent(event, f"e-{cid}")])
                        break
                    except RetryableError:  # SQLite: "database is locked" while another writes
                        if attempt == 49:
                            raise
                        time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,), daemon=True) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    (position,) = PortfolioRepository(database).positions("simulated")
    assert position.quantity == writers * per_writer
    assert position.cost_basis == Decimal(50 * writers * per_writer)


def test_unknown_account_is_refused(database: Database) -> None:
    with pytest.raises(InputError, match="account: must be one of simulated, alpaca-paper, alpaca-live"):
        OrdersRepository(database, account="paper")
    with pytest.raises(InputError, match="account"):
        PortfolioRepository(database).positions("nope")
