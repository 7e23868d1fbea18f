"""Alpaca ``trade_updates`` frames parsed into order updates the book can apply.

``real_trade_update_new_aapl.json`` is a real captured frame (UUIDs scrubbed by its publisher).
No ``partial_fill`` or ``fill`` frame with a known source exists: the two MSFT frames are
written by us from Alpaca's documented frame format (execution ``price`` / ``qty`` and
``position_qty`` in ``data``, cumulative ``filled_qty`` / ``filled_avg_price`` in ``order``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.domain.orders import OrderSide, OrderStatus, OrderType
from app.errors import OrderRejected
from app.execution.alpaca.parsing import parse_trade_update
from app.portfolio import BookFill, PositionBook
from tests.unit.execution.alpaca_replay import load

D = Decimal


def test_the_captured_new_frame_is_an_update_without_fills() -> None:
    update = parse_trade_update(load("real_trade_update_new_aapl.json"))
    assert update is not None and update.event == "new"
    order = update.order
    assert (order.symbol, order.side, order.type, order.status) == (
        "AAPL",
        OrderSide.BUY,
        OrderType.LIMIT,
        OrderStatus.NEW,
    )
    assert order.broker_order_id == "11111111-2222-3333-4444-555555555555"
    assert (order.qty, order.limit_price, order.fills) == (D("1"), D("1"), [])
    assert update.at == datetime(2021, 12, 9, 19, 48, 46, 182987, tzinfo=UTC)
    assert update.position_qty is None


def test_partial_then_full_fill_frames_build_the_position_once_each() -> None:
    frames = [load("trade_update_partial_fill_msft.json"), load("trade_update_fill_msft.json")]
    updates = [parse_trade_update(frame) for frame in frames]
    assert [u.event for u in updates if u] == ["partial_fill", "fill"]
    assert [u.order.status for u in updates if u] == [OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    book = PositionBook()
    for update in [*updates, updates[1]]:  # a redelivered frame changes nothing
        assert update is not None
        for fill in update.order.fills:
            book.apply_fill(BookFill.from_report("alpaca-paper", update.order, fill))
    position = book.position("alpaca-paper", "MSFT")
    last = updates[-1]
    assert last is not None and position.quantity == last.position_qty == D("20")
    assert position.average_cost == D(frames[1]["data"]["order"]["filled_avg_price"])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f["data"].pop("execution_id"), "execution_id"),
        (lambda f: f["data"].update(price="abc"), "non-numeric"),
        (lambda f: f["data"]["order"].update(type="trailing_stop"), "not tracked"),
        (lambda f: f["data"]["order"].update(status="teleported"), "unknown Alpaca order status"),
        (lambda f: f["data"].pop("order"), "without data.order"),
        (lambda f: f["data"]["order"].update(symbol="msft corp"), "in a fill frame"),
    ],
)
def test_malformed_frames_are_protocol_errors(change: Any, match: str) -> None:
    frame = load("trade_update_fill_msft.json")
    change(frame)
    with pytest.raises(OrderRejected, match=match) as refused:
        parse_trade_update(frame)
    assert refused.value.reason == "broker_protocol"


def test_control_frames_are_not_trade_updates() -> None:
    assert parse_trade_update({"stream": "authorization", "data": {"status": "authorized"}}) is None
    assert parse_trade_update({"stream": "listening", "data": {"streams": ["trade_updates"]}}) is None
