from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from app.domain.orders import OrderStatus
from app.errors import InputError, NotFoundError, RetryableError
from app.storage.db import Database
from app.storage.models import Fill, Order
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from tests.integration.orders.scenario import T0, build, fill, order_event


def _apply(service: OrdersRepository, *events: object) -> None:
    service.apply([SourcedOrderEvent(e, f"evt-{i}") for i, e in enumerate(events)])  # type: ignore[arg-type]


def _counts(database: Database) -> tuple[int, int]:
    with database.session() as session:
        orders = session.execute(select(func.count()).select_from(Order)).scalar_one()
        fills = session.execute(select(func.count()).select_from(Fill)).scalar_one()
    return orders, fills


def test_intent_then_partial_fills_then_filled_accumulates_totals(database: Database) -> None:
    service = OrdersRepository(database)
    _apply(service, order_event("c1", OrderStatus.NEW, qty="10"))
    _apply(
        service,
        order_event("c1", OrderStatus.PARTIALLY_FILLED, fills=[fill("f1", "4", "100")], broker_order_id="b1"),
    )
    _apply(
        service, order_event("c1", OrderStatus.FILLED, fills=[fill("f1", "4", "100"), fill("f2", "6", "101")])
    )
    detail = service.get_order("c1")
    assert detail.order.status == "filled"
    assert detail.order.filled_qty == Decimal(10)
    assert detail.order.avg_fill_price == Decimal("100.6")
    assert detail.order.broker_order_id == "b1"
    assert [f.venue_fill_id for f in detail.fills] == ["f1", "f2"]
    assert _counts(database) == (1, 2)


def test_late_older_status_never_overwrites_a_newer_one(database: Database) -> None:
    service = OrdersRepository(database)
    _apply(service, order_event("c1", OrderStatus.FILLED, fills=[fill("f1", "10", "50")]))
    _apply(service, order_event("c1", OrderStatus.ACCEPTED))
    _apply(service, order_event("c1", OrderStatus.NEW))
    _apply(service, order_event("c1", OrderStatus.CANCELED))
    order = service.get_order("c1").order
    assert order.status == "filled"
    assert order.filled_qty == Decimal(10)


def test_events_of_one_order_in_one_batch_fold_to_the_highest_status(database: Database) -> None:
    service = OrdersRepository(database)
    result = service.apply(
        [
            SourcedOrderEvent(order_event("c1", OrderStatus.ACCEPTED), "e1"),
            SourcedOrderEvent(order_event("c1", OrderStatus.FILLED, fills=[fill("f1", "10", "5")]), "e2"),
            SourcedOrderEvent(order_event("c1", OrderStatus.NEW, ts=T0 - timedelta(seconds=5)), "e0"),
            SourcedOrderEvent(order_event("c1", OrderStatus.FILLED, fills=[fill("f1", "10", "5")]), "e2"),
        ]
    )
    assert (result.events, result.orders, result.fills_inserted) == (4, 1, 1)
    order = service.get_order("c1").order
    assert order.status == "filled"
    assert order.source_event_id == "e2"
    assert order.created_at == T0 - timedelta(seconds=5)


def test_redelivered_batch_changes_nothing(database: Database) -> None:
    service = OrdersRepository(database)
    scenario = build(600, seed=3)
    from app.domain.orders import OrderEvent

    events = [SourcedOrderEvent(OrderEvent.model_validate(e.payload), e.event_id) for e in scenario.envelopes]
    for start in range(0, len(events), 97):
        service.apply(events[start : start + 97])
    before = _counts(database)
    again = service.apply(events)
    assert again.fills_inserted == 0
    assert _counts(database) == before == (len(scenario.expected), scenario.fill_count)
    for cid, expected in scenario.expected.items():
        detail = service.get_order(cid)
        assert detail.order.status == expected.status
        assert detail.order.filled_qty == expected.filled_qty
        assert detail.order.avg_fill_price == expected.avg_fill_price
        assert {f.venue_fill_id for f in detail.fills} == expected.fill_ids


def test_concurrent_writers_of_the_same_orders_keep_exact_totals(database: Database) -> None:
    service = OrdersRepository(database)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for n in range(20):
                fills = [fill(f"w{worker}-f{n}", "1", str(100 + worker))]
                batch = [
                    SourcedOrderEvent(
                        order_event(f"c{k}", OrderStatus.PARTIALLY_FILLED, qty="1000", fills=fills)
                    )
                    for k in range(3)
                ]
                for attempt in range(20):
                    try:
                        service.apply(batch)
                        break
                    except RetryableError:
                        if attempt == 19:
                            raise
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for k in range(3):
        detail = service.get_order(f"c{k}")
        assert len(detail.fills) == 80
        assert detail.order.filled_qty == Decimal(80)
        assert detail.order.avg_fill_price == Decimal("101.5")


def test_list_orders_pages_newest_first_with_filters(database: Database) -> None:
    service = OrdersRepository(database)
    for i in range(7):
        symbol = "AAPL" if i % 2 == 0 else "MSFT"
        status = OrderStatus.FILLED if i < 3 else OrderStatus.NEW
        fills = [fill(f"f{i}", "10", "10")] if status is OrderStatus.FILLED else []
        _apply(
            service, order_event(f"c{i}", status, symbol=symbol, ts=T0 + timedelta(minutes=i), fills=fills)
        )
    first = service.list_orders(limit=3)
    assert [o.client_order_id for o in first.items] == ["c6", "c5", "c4"]
    assert first.next_cursor is not None
    second = service.list_orders(limit=3, cursor=first.next_cursor)
    assert [o.client_order_id for o in second.items] == ["c3", "c2", "c1"]
    third = service.list_orders(limit=3, cursor=second.next_cursor)
    assert [o.client_order_id for o in third.items] == ["c0"]
    assert third.next_cursor is None
    assert [o.client_order_id for o in service.list_orders(symbol="msft").items] == ["c5", "c3", "c1"]
    assert [o.client_order_id for o in service.list_orders(status=OrderStatus.FILLED).items] == [
        "c2",
        "c1",
        "c0",
    ]
    assert [o.client_order_id for o in service.list_orders(since=T0 + timedelta(minutes=5)).items] == [
        "c6",
        "c5",
    ]
    fills = service.list_fills(symbol="AAPL")
    assert [f.venue_fill_id for f in fills.items] == ["f2", "f0"]
    assert fills.items[0].client_order_id == "c2"
    order_id = service.get_order("c1").order.id
    assert [f.venue_fill_id for f in service.list_fills(order_id=order_id).items] == ["f1"]
    assert service.get_order(str(order_id)).order.client_order_id == "c1"


def test_bad_cursor_and_missing_order_are_reported(database: Database) -> None:
    service = OrdersRepository(database)
    with pytest.raises(InputError, match="cursor"):
        service.list_orders(cursor="not-a-cursor")
    with pytest.raises(NotFoundError, match="nope"):
        service.get_order("nope")
    with pytest.raises(NotFoundError):
        service.get_order("9" * 30)
    with pytest.raises(InputError, match="cursor"):
        service.list_fills(cursor="aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ")


def test_unreachable_database_is_a_retryable_error(database: Database) -> None:
    if database.dialect == "sqlite":
        with database.engine.begin() as connection:
            connection.execute(text("DROP TABLE fills"))
            connection.execute(text("DROP TABLE orders"))
    else:
        database = Database(database.url.set(port=1))
    with pytest.raises(RetryableError, match="database unavailable"):
        OrdersRepository(database).apply([SourcedOrderEvent(order_event("c1"))])
