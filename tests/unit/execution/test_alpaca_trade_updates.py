"""Alpaca ``trade_updates`` frames parsed into order updates the book can apply.

``real_trade_update_new_aapl.json`` is a real captured frame (UUIDs scrubbed by its publisher).
No ``partial_fill``, ``fill``, ``canceled``, ``expired`` or ``rejected`` frame with a known
source exists: those frames are written by us from Alpaca's documented frame format
(execution ``price`` / ``qty`` and ``position_qty`` in ``data``, cumulative ``filled_qty`` /
``filled_avg_price`` in ``order``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.domain.orders import FillPayload, OrderSide, OrderStatus, OrderType
from app.errors import OrderRejected
from app.execution.alpaca.config import AlpacaTradingConfig
from app.execution.alpaca.parsing import fill_id, parse_fill_activities, parse_trade_update, parse_venue_order
from app.execution.alpaca.stream import _missing_executions
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


@pytest.mark.parametrize(
    ("name", "event", "status"),
    [
        ("trade_update_canceled_aapl.json", "canceled", OrderStatus.CANCELED),
        ("trade_update_expired_tsla.json", "expired", OrderStatus.EXPIRED),
        ("trade_update_rejected_nvda.json", "rejected", OrderStatus.REJECTED),
    ],
)
def test_terminal_frames_close_the_order_without_fills(name: str, event: str, status: OrderStatus) -> None:
    update = parse_trade_update(load(name))
    assert update is not None and update.event == event
    assert update.order.status is status and update.order.status.is_terminal
    assert update.order.fills == []


def test_a_replaced_order_counts_as_cancelled() -> None:
    frame = load("trade_update_canceled_aapl.json")
    frame["data"]["event"] = "replaced"
    frame["data"]["order"].update(status="replaced", replaced_by="22222222-3333-4444-5555-666666666666")
    update = parse_trade_update(frame)
    assert update is not None and update.order.status is OrderStatus.CANCELED


def test_one_execution_has_one_fill_id_on_the_stream_and_in_the_activity_feed() -> None:
    partial = parse_trade_update(load("trade_update_partial_fill_msft.json"))
    assert partial is not None
    order_id = partial.order.broker_order_id
    assert order_id is not None
    row = {
        "id": "20261125100212903::5f1c9f7e-2b64-4d0b-9a59-0c3e7b6d2f18",  # not the execution_id
        "activity_type": "FILL",
        "transaction_time": "2026-11-25T15:02:12.903811Z",
        "price": "412.35",
        "qty": "7",
        "cum_qty": "7",
        "order_id": order_id,
    }
    [from_feed] = parse_fill_activities([row], order_id)
    [from_stream] = partial.order.fills
    assert from_stream.venue_fill_id == from_feed.venue_fill_id == fill_id(order_id, D("7.000"))
    assert (from_stream.qty, from_stream.price) == (from_feed.qty, from_feed.price)
    assert from_stream.cum_qty == from_feed.cum_qty == D(7)
    assert from_stream.span == from_feed.span == (D(0), D(7))
    assert not (from_stream.inferred or from_feed.inferred)
    assert partial.execution_id == "5f1c9f7e-2b64-4d0b-9a59-0c3e7b6d2f18"


def test_an_activity_whose_quantity_exceeds_its_cumulative_quantity_is_refused() -> None:
    row = {
        "id": "20261125100212903::x",
        "activity_type": "FILL",
        "transaction_time": "2026-11-25T15:02:12.903811Z",
        "price": "412.35",
        "qty": "7",
        "cum_qty": "5",
        "order_id": "o-1",
    }
    with pytest.raises(OrderRejected, match="cum_qty 5 is below the fill's qty 7"):
        parse_fill_activities([row], "o-1")


def test_a_fill_frame_without_the_cumulative_quantity_is_refused() -> None:
    frame = load("trade_update_fill_msft.json")
    frame["data"]["order"]["filled_qty"] = None
    with pytest.raises(OrderRejected, match=r"order\.filled_qty"):
        parse_trade_update(frame)


def test_a_listed_order_needs_no_intent() -> None:
    raw = load("real_order_filled_limit_spy.json")
    report = parse_venue_order(raw, [])
    assert (report.client_order_id, report.broker_order_id, report.symbol) == (
        raw["client_order_id"],
        raw["id"],
        "SPY",
    )
    assert (report.status, report.type, report.qty, report.limit_price) == (
        OrderStatus.FILLED,
        OrderType.LIMIT,
        D("10"),
        D("362.4"),
    )
    assert report.ts == datetime(2022, 10, 14, 15, 28, 33, 578185, tzinfo=UTC)
    trailing = raw | {"type": "trailing_stop"}
    with pytest.raises(OrderRejected, match="not tracked"):
        parse_venue_order(trailing, [])
    with pytest.raises(OrderRejected, match="lacks its ids"):
        parse_venue_order({k: v for k, v in raw.items() if k != "client_order_id"}, [])


def test_the_stream_url_follows_the_trading_url_unless_set() -> None:
    paper = AlpacaTradingConfig(api_key="k", api_secret="s")
    assert paper.stream_url == "wss://paper-api.alpaca.markets/stream"
    live = AlpacaTradingConfig(api_key="k", api_secret="s", paper=False)
    assert live.stream_url == "wss://api.alpaca.markets/stream"
    local = AlpacaTradingConfig(api_key="k", api_secret="s", base_url="http://127.0.0.1:8123")
    assert local.stream_url == "ws://127.0.0.1:8123/stream"
    explicit = AlpacaTradingConfig(api_key="k", api_secret="s", stream_base_url="ws://127.0.0.1:9/x")
    assert explicit.stream_url == "ws://127.0.0.1:9/x"


def test_catch_up_flags_an_order_whose_newest_listed_execution_is_behind_its_filled_qty() -> None:
    at = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)

    def fill(name: str, qty: str, cumulative: str | None) -> FillPayload:
        cum = None if cumulative is None else Decimal(cumulative)
        return FillPayload(venue_fill_id=name, qty=Decimal(qty), price=Decimal(100), ts=at, cum_qty=cum)

    order = {"filled_qty": "50"}
    # with cum_qty: executions at 10 and 30 listed, the order counts 50
    assert _missing_executions(order, [fill("o-1:10", "10", "10"), fill("o-1:30", "20", "30")])
    assert not _missing_executions(order, [fill("o-1:30", "20", "30"), fill("o-1:50", "20", "50")])
    # cum_qty wins over a name that does not carry the quantity
    assert not _missing_executions(order, [fill("exec-7", "50", "50")])
    # without cum_qty: the cumulative quantity the id ends with
    assert _missing_executions(order, [fill("o-1:30", "30", None)])
    assert not _missing_executions(order, [fill("o-1:50", "50", None)])
    assert not _missing_executions({"filled_qty": "0"}, [])
