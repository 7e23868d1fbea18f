"""The Alpaca broker against a local server replaying Alpaca's recorded order and fill JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.bootstrap import build_alpaca_trading_config, build_broker
from app.config import Settings
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.errors import ConfigError, OrderRejected, RetryableError
from app.execution.alpaca.broker import AlpacaBroker
from app.execution.alpaca.config import PAPER_URL, AlpacaTradingConfig
from app.execution.alpaca.parsing import fill_id, infer_rest, parse_fill_activities, parse_order
from app.execution.ports import Broker, BrokerCapability
from tests.unit.execution.alpaca_replay import alpaca_replay_server, load

ORDER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"


def _intent(coid: str = "rt-aapl-breakout-20250103") -> OrderEvent:
    return OrderEvent(
        client_order_id=coid,
        symbol="AAPL",
        side=OrderSide.BUY,
        notional=Decimal("2500"),
        strategy="breakout",
        prob=0.58,
        frac=0.025,
        run_id="run-1",
        bar_time=datetime(2025, 1, 3, tzinfo=UTC),
        ts=datetime(2025, 1, 3, 14, 31, tzinfo=UTC),
    )


def _broker(base_url: str) -> AlpacaBroker:
    config = AlpacaTradingConfig(
        api_key="PKTESTKEY", api_secret="test-secret", base_url=base_url, fill_wait_s=1.0, fill_poll_s=0.01
    )
    return AlpacaBroker(config)


def test_new_order_is_placed_once_and_reported_with_its_fills() -> None:
    with alpaca_replay_server() as (url, state):
        broker = _broker(url)
        assert isinstance(broker, Broker)
        report = broker.submit(_intent(), market_price=Decimal("239"))
        broker.close()
    assert state.posted == [
        {
            "symbol": "AAPL",
            "notional": 2500.0,
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "client_order_id": "rt-aapl-breakout-20250103",
        }
    ]
    assert state.auth_headers[0] == ("PKTESTKEY", "test-secret")
    assert report.status is OrderStatus.FILLED
    assert report.broker_order_id == ORDER_ID
    assert report.client_order_id == "rt-aapl-breakout-20250103"
    assert (report.strategy, report.run_id, report.prob) == ("breakout", "run-1", 0.58)
    assert [f.qty for f in report.fills] == [Decimal("6"), Decimal("4.457789663")]
    assert sum(f.qty for f in report.fills) == Decimal("10.457789663")
    # one execution, one id, whichever feed reports it: the order id and the cumulative quantity
    assert [f.venue_fill_id for f in report.fills] == [f"{ORDER_ID}:6", f"{ORDER_ID}:10.457789663"]


def test_resubmitting_the_same_client_order_id_places_no_second_order() -> None:
    with alpaca_replay_server() as (url, state):
        broker = _broker(url)
        first = broker.submit(_intent(), market_price=Decimal("239"))
        second = broker.submit(_intent(), market_price=Decimal("239"))
        broker.close()
    assert len(state.posted) == 1
    assert second.broker_order_id == first.broker_order_id
    assert second.fills == first.fills


def test_duplicate_refusal_from_a_racing_submit_reports_the_existing_order() -> None:
    with alpaca_replay_server(mode="race") as (url, state):
        broker = _broker(url)
        report = broker.submit(_intent("race-1"), market_price=Decimal("239"))
        broker.close()
    assert len(state.posted) == 1
    assert report.broker_order_id == ORDER_ID and report.status is OrderStatus.FILLED


@pytest.mark.parametrize(
    ("mode", "error", "text"),
    [
        ("reject", OrderRejected, "insufficient buying power"),
        ("unauthorized", OrderRejected, "not authorized"),
        ("server_error", RetryableError, "500"),
    ],
)
def test_alpaca_errors_map_to_the_error_tree(mode: str, error: type[Exception], text: str) -> None:
    with alpaca_replay_server(mode=mode) as (url, _):
        broker = _broker(url)
        with pytest.raises(error, match=text):
            broker.submit(_intent(f"err-{mode}"), market_price=Decimal("239"))
        broker.close()


def test_unreachable_alpaca_is_retryable() -> None:
    from tests.servers import free_port

    broker = _broker(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetryableError, match="unreachable"):
        broker.submit(_intent(), market_price=Decimal("239"))
    broker.close()


def test_fill_rows_of_other_orders_are_ignored() -> None:
    fills = parse_fill_activities(load("activities_fill.json"), ORDER_ID)
    assert len(fills) == 2 and all(f.ts.tzinfo is not None for f in fills)


def test_filled_order_without_activity_rows_gets_one_derived_fill() -> None:
    raw = load("order_filled.json") | {"client_order_id": "x-1"}
    report = parse_order(raw, _intent("x-1"), [])
    [fill] = report.fills
    assert fill.qty == fill.cum_qty == Decimal("10.457789663")
    assert fill.price == fill.order_avg_price == Decimal("239.06")
    assert fill.inferred and fill.venue_fill_id == f"{ORDER_ID}:10.457789663"


def test_the_inferred_rest_covers_every_gap_the_feed_leaves() -> None:
    at = datetime(2025, 1, 3, 14, 32, tzinfo=UTC)

    def listed(qty: str, price: str, cumulative: str) -> FillPayload:
        return FillPayload(
            venue_fill_id=fill_id("o-1", Decimal(cumulative)),
            qty=Decimal(qty),
            price=Decimal(price),
            ts=at,
            cum_qty=Decimal(cumulative),
        )

    # executions at cumulative 10, 30 and 50 (10 @ 100, 20 @ 101, 20 @ 103): the feed lacks 30
    feed = [listed("10", "100", "10"), listed("20", "103", "50")]
    rest = infer_rest("o-1", feed, Decimal(50), Decimal("101.6"), at)
    assert rest is not None
    assert (rest.venue_fill_id, rest.qty, rest.price) == ("o-1:30", Decimal(20), Decimal(101))
    assert (rest.cum_qty, rest.order_avg_price, rest.inferred) == (Decimal(50), Decimal("101.6"), True)
    # the feed lacks 30 and 50: one inferred fill for (10, 50], named by the newest
    rest = infer_rest("o-1", feed[:1], Decimal(50), Decimal("101.6"), at)
    assert rest is not None and (rest.venue_fill_id, rest.qty, rest.price) == (
        "o-1:50",
        Decimal(40),
        Decimal(102),
    )
    assert infer_rest("o-1", [*feed, listed("20", "101", "30")], Decimal(50), Decimal("101.6"), at) is None
    with pytest.raises(OrderRejected, match="fills disagree with its average"):
        infer_rest("o-1", feed[:1], Decimal(50), Decimal(20), at)


def test_answer_for_another_client_order_id_is_refused() -> None:
    raw = load("order_filled.json") | {"client_order_id": "someone-else"}
    with pytest.raises(OrderRejected, match="someone-else"):
        parse_order(raw, _intent("x-1"), [])


def test_factory_needs_keys_and_defaults_to_paper(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="ALPACA_API_KEY and ALPACA_API_SECRET"):
        build_broker(make_settings(BROKER="alpaca"))
    paper = build_alpaca_trading_config(
        make_settings(BROKER="alpaca", ALPACA_API_KEY="k", ALPACA_API_SECRET="s")
    )
    assert paper.paper and paper.url == PAPER_URL
    assert "k" not in repr(paper).replace("kw", "")  # keys are not shown in repr
    live = build_broker(
        make_settings(BROKER="alpaca", ALPACA_API_KEY="k", ALPACA_API_SECRET="s", ALPACA_PAPER=False)
    )
    assert BrokerCapability.LIVE_TRADING in live.capabilities
    live.close()


def _sell(coid: str = "rt-aapl-breakout-20250110-sell") -> OrderEvent:
    return _intent(coid).model_copy(update={"side": OrderSide.SELL})


def test_sell_of_a_held_position_is_placed() -> None:
    with alpaca_replay_server() as (url, state):
        state.positions["AAPL"] = load("position_aapl.json")
        broker = _broker(url)
        report = broker.submit(_sell(), market_price=Decimal("239"))
        broker.close()
    assert report.status is OrderStatus.FILLED
    assert state.posted[0]["side"] == "sell"
    assert ("GET", "/v2/positions/AAPL") in state.requests


@pytest.mark.parametrize("position", [None, {"symbol": "AAPL", "qty": "-5", "side": "short"}])
def test_sell_without_a_long_position_is_refused_before_sending(position: dict[str, str] | None) -> None:
    with alpaca_replay_server() as (url, state):
        if position is not None:
            state.positions["AAPL"] = position
        broker = _broker(url)
        with pytest.raises(OrderRejected, match="holds no long position") as info:
            broker.submit(_sell(), market_price=Decimal("239"))
        broker.close()
    assert info.value.reason == "no_position"
    assert state.posted == []


def test_buy_needs_no_position_lookup() -> None:
    with alpaca_replay_server() as (url, state):
        broker = _broker(url)
        broker.submit(_intent(), market_price=Decimal("239"))
        broker.close()
    assert not any(path.startswith("/v2/positions/") for _, path in state.requests)


def test_cancel_of_a_working_order_reports_it_canceled() -> None:
    with alpaca_replay_server() as (url, state):
        accepted = load("order_accepted.json")
        accepted["client_order_id"] = "rt-cancel-1"
        state.orders["rt-cancel-1"] = accepted
        broker = _broker(url)
        report = broker.cancel(_intent("rt-cancel-1"))
        broker.close()
    assert report.status is OrderStatus.CANCELED
    assert report.client_order_id == "rt-cancel-1"
    assert ("DELETE", f"/v2/orders/{accepted['id']}") in state.requests


def test_cancel_of_an_unknown_order_is_not_found() -> None:
    from app.errors import NotFoundError

    with alpaca_replay_server() as (url, _state):
        broker = _broker(url)
        with pytest.raises(NotFoundError, match="no order rt-unknown"):
            broker.cancel(_intent("rt-unknown"))
        broker.close()


def test_a_found_order_carries_its_executions_named_as_every_feed_names_them() -> None:
    with alpaca_replay_server() as (url, state):
        broker = _broker(url)
        assert broker.find_order("never-sent") is None
        placed = broker.submit(_intent(), market_price=Decimal("239"))
        found = broker.find_order("rt-aapl-breakout-20250103")
        # Alpaca counts one more execution than its activity feed lists yet
        state.orders["rt-aapl-breakout-20250103"] = state.orders["rt-aapl-breakout-20250103"] | {
            "filled_qty": "12.457789663",
            "filled_avg_price": "239.5",
        }
        ahead = broker.find_order("rt-aapl-breakout-20250103")
        broker.close()
    assert found is not None and found.status is OrderStatus.FILLED
    assert [(f.venue_fill_id, f.qty, f.price) for f in found.fills] == [
        (f.venue_fill_id, f.qty, f.price) for f in placed.fills
    ]
    assert ahead is not None and [f.venue_fill_id for f in ahead.fills] == [
        f"{ORDER_ID}:6",
        f"{ORDER_ID}:10.457789663",
        f"{ORDER_ID}:12.457789663",
    ]
    rest = ahead.fills[-1]
    assert rest.qty == Decimal(2)
    total = sum((f.qty * f.price for f in ahead.fills), Decimal(0))
    assert abs(total - Decimal("12.457789663") * Decimal("239.5")) < Decimal("0.00001")
