"""The Alpaca broker's reconciliation reads (account, positions, open orders) on a replay server.

Positions and orders are Alpaca's real captured payloads where one exists (``real_*`` in
tests/fixtures/alpaca_trading, see its SOURCES.md). No capture with a known source exists for
``GET /v2/account`` or for a partially filled order: ``account.json`` and
``order_partially_filled.json`` are written by us from Alpaca's documented format.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.bootstrap import build_alpaca_trading_config
from app.config import Settings
from app.domain.orders import OrderEvent, OrderSide, OrderStatus
from app.errors import OrderRejected, RetryableError
from app.execution.alpaca.broker import AlpacaBroker
from app.execution.alpaca.config import AlpacaTradingConfig
from app.execution.alpaca.parsing import parse_open_order, parse_order, parse_position
from app.portfolio import Position, reconcile
from tests.unit.execution.alpaca_replay import alpaca_replay_server, load

D = Decimal


def _broker(base_url: str) -> AlpacaBroker:
    return AlpacaBroker(AlpacaTradingConfig(api_key="PKTESTKEY", api_secret="test-secret", base_url=base_url))


def _open_orders() -> list[dict[str, Any]]:
    working = load("real_trade_update_new_aapl.json")["data"]["order"]  # real capture
    crypto = load("real_close_all_positions_mixed.json")[0]["body"]  # real capture, pending_new
    partial = load("order_partially_filled.json")  # written from the documented format
    return [working, crypto, partial]


def test_account_balances_are_read_as_decimals() -> None:
    with alpaca_replay_server() as (url, state):
        account = _broker(url).get_account()
    assert state.requests == [("GET", "/v2/account")]
    assert account.account_id == "PA3KQ7XZ2M1B" and account.status == "ACTIVE"
    assert (account.cash, account.equity, account.buying_power) == (
        D("97727.88"),
        D("98704.56"),
        D("187432.18"),
    )
    assert account.short_market_value == D("-2011.44") and account.last_equity == D("98512.30")
    assert account.shorting_enabled and not account.trading_blocked


def test_positions_keep_the_sign_of_a_captured_short() -> None:
    with alpaca_replay_server() as (url, state):
        state.positions = {"XLK": load("real_position_short_xlk.json"), "AAPL": load("position_aapl.json")}
        positions = _broker(url).list_positions()
    assert [(p.symbol, p.quantity, p.average_entry_price) for p in positions] == [
        ("AAPL", D("12.5"), D("228.41")),
        ("XLK", D("-24"), D("82.69")),
    ]
    xlk = positions[1]
    assert (xlk.market_value, xlk.unrealized_pl, xlk.current_price) == (
        D("-2011.44"),
        D("-26.88"),
        D("83.81"),
    )


def test_open_orders_parse_captured_and_documented_shapes() -> None:
    with alpaca_replay_server() as (url, state):
        state.open_orders = _open_orders()
        orders = _broker(url).list_open_orders()
    assert state.queries[0]["status"] == ["open"] and state.queries[0]["limit"] == ["500"]
    assert [(o.symbol, o.status, o.type) for o in orders] == [
        ("AAPL", OrderStatus.NEW, "limit"),
        ("BTC/USD", OrderStatus.NEW, "market"),
        ("MSFT", OrderStatus.PARTIALLY_FILLED, "limit"),
    ]
    aapl, btc, msft = orders
    assert aapl.submitted_at == datetime(2021, 12, 9, 19, 48, 46, 175261, tzinfo=UTC)
    assert (aapl.qty, aapl.limit_price, aapl.remaining_qty) == (D("1"), D("1"), D("1"))
    assert btc.side is OrderSide.SELL and btc.signed_remaining_qty == D("-0.0283")
    assert (msft.filled_qty, msft.remaining_qty, msft.client_order_id) == (
        D("7"),
        D("13"),
        "rt-msft-breakout-20261125-buy",
    )


def test_open_orders_beyond_one_page_are_all_read_once() -> None:
    template = load("order_partially_filled.json")
    start = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    rows = []
    for n in range(1203):
        row = copy.deepcopy(template)
        row["id"] = f"order-{n:05d}"
        row["client_order_id"] = f"c-{n:05d}"
        # pairs of orders share a submission time, so page boundaries fall inside ties
        row["submitted_at"] = (start + timedelta(milliseconds=n // 2)).isoformat().replace("+00:00", "Z")
        rows.append(row)
    with alpaca_replay_server() as (url, state):
        state.open_orders = rows
        orders = _broker(url).list_open_orders()
    assert len(orders) == 1203 and len({o.broker_order_id for o in orders}) == 1203
    assert len(state.queries) >= 3


def test_an_unavailable_venue_is_retryable_and_an_unknown_status_is_a_protocol_error() -> None:
    with alpaca_replay_server("read_error") as (url, _):
        broker = _broker(url)
        for read in (broker.get_account, broker.list_positions, broker.list_open_orders):
            with pytest.raises(RetryableError, match="503"):
                read()
    odd = load("order_partially_filled.json") | {"status": "teleported"}
    with pytest.raises(OrderRejected, match="unknown Alpaca order status"):
        parse_open_order(odd)
    assert parse_open_order(load("real_order_filled_limit_spy.json")) is None  # filled: not open


def test_captured_filled_order_reports_its_cumulative_fill() -> None:
    raw = load("real_order_filled_limit_spy.json")
    intent = OrderEvent(
        client_order_id=raw["client_order_id"],
        symbol="SPY",
        side=OrderSide.BUY,
        qty=D("10"),
        ts=datetime.now(UTC),
    )
    report = parse_order(raw, intent, [])
    assert report.status is OrderStatus.FILLED and report.broker_order_id == raw["id"]
    (fill,) = report.fills
    assert (fill.qty, fill.price) == (D("10"), D("361.92"))
    assert fill.ts == datetime(2022, 10, 14, 15, 28, 33, 575449, tzinfo=UTC)


def test_reconciling_a_book_against_the_captured_positions_adopts_the_short() -> None:
    with alpaca_replay_server() as (url, state):
        state.positions = {"XLK": load("real_position_short_xlk.json"), "AAPL": load("position_aapl.json")}
        state.open_orders = _open_orders()
        broker = _broker(url)
        positions, orders = broker.list_positions(), broker.list_open_orders()
    book = [Position(account="alpaca-paper", symbol="AAPL").adjusted(D("12.5"), D("228.41"))]
    report = reconcile(
        "alpaca-paper", book, positions, orders, who="test", why="captured account", at=datetime.now(UTC)
    )
    assert [(d.kind, d.symbol) for d in report.differences] == [("missing_in_book", "XLK")]
    assert report.entries[0].quantity_after == D("-24") and len(report.open_orders) == 3


def test_parse_position_refuses_a_non_numeric_quantity() -> None:
    with pytest.raises(OrderRejected, match="non-numeric qty"):
        parse_position(load("real_position_short_xlk.json") | {"qty": "lots"})


# --- the kept account -----------------------------------------------------------------------


class _Ticks:
    """A monotonic clock the test moves; ``on_read`` runs at each reading (a racing order)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.on_read: Callable[[], None] | None = None

    def __call__(self) -> float:
        if self.on_read is not None:
            self.on_read()
        return self.now


def _kept_broker(url: str, ticks: _Ticks, cache_s: float = 3.0) -> AlpacaBroker:
    config = AlpacaTradingConfig(
        api_key="PKTESTKEY",
        api_secret="test-secret",
        base_url=url,
        fill_wait_s=1.0,
        fill_poll_s=0.01,
        account_cache_s=cache_s,
    )
    return AlpacaBroker(config, monotonic=ticks)


def _account_reads(state: Any) -> int:
    return state.requests.count(("GET", "/v2/account"))


def test_the_account_is_reused_for_a_few_seconds_then_read_again() -> None:
    ticks = _Ticks()
    with alpaca_replay_server() as (url, state):
        broker = _kept_broker(url, ticks)
        first = broker.get_account()
        state.account = load("account.json") | {"cash": "1.00"}  # Alpaca's figures move on
        ticks.now += 2.9
        assert broker.get_account() == first and _account_reads(state) == 1
        ticks.now += 0.2  # 3.1 s after the first read: too old
        assert broker.get_account().cash == D("1.00") and _account_reads(state) == 2
        broker.close()


@pytest.mark.parametrize("change", ["submit", "cancel", "stream_fill"])
def test_an_order_change_drops_the_kept_account(change: str) -> None:
    ticks = _Ticks()
    with alpaca_replay_server() as (url, state):
        broker = _kept_broker(url, ticks)
        assert broker.get_account().cash == D("97727.88")
        state.account = load("account.json") | {"cash": "95227.88"}
        intent = OrderEvent(
            client_order_id="cache-1",
            symbol="AAPL",
            side=OrderSide.BUY,
            notional=D("2500"),
            ts=datetime(2025, 1, 3, 14, 31, tzinfo=UTC),
        )
        if change == "submit":
            broker.submit(intent, market_price=D("239"))
        elif change == "cancel":
            broker.submit(intent, market_price=D("239"))
            broker.get_account()
            state.account = load("account.json") | {"cash": "97000.00"}
            broker.cancel(intent)
        else:
            from app.execution.alpaca.stream import AlpacaVenueFeed

            update = AlpacaVenueFeed(broker.config, broker).parse(load("trade_update_fill_msft.json"))
            assert update is not None and update.order.fills
        fresh = broker.get_account()  # the same instant: only the order change explains a new read
        broker.close()
    assert fresh.cash == (D("97000.00") if change == "cancel" else D("95227.88"))


def test_a_read_that_an_order_change_overtook_is_not_kept_and_failures_never_are() -> None:
    ticks = _Ticks()
    with alpaca_replay_server() as (url, state):
        broker = _kept_broker(url, ticks)
        ticks.on_read = broker.forget_account  # an order is placed while the account is read
        broker.get_account()
        ticks.on_read = None
        broker.get_account()
        assert _account_reads(state) == 2
        broker.forget_account()
        state.mode = "read_error"
        with pytest.raises(RetryableError, match="503"):
            broker.get_account()
        state.mode = "fill"
        assert broker.get_account().cash == D("97727.88")
        assert _account_reads(state) == 4
        broker.close()


def test_a_zero_cache_reads_every_time_and_the_cache_is_bounded(
    make_settings: Callable[..., Settings],
) -> None:
    ticks = _Ticks()
    with alpaca_replay_server() as (url, state):
        broker = _kept_broker(url, ticks, cache_s=0)
        broker.get_account()
        broker.get_account()
        assert _account_reads(state) == 2
        broker.close()
    for wrong in (-1.0, 30.5, float("nan")):
        with pytest.raises(ValueError, match="account_cache_s"):
            AlpacaTradingConfig(api_key="k", api_secret="s", account_cache_s=wrong)
    with pytest.raises(ValidationError, match="ALPACA_ACCOUNT_CACHE_S"):
        make_settings(ALPACA_ACCOUNT_CACHE_S=31)
    settings = make_settings(
        BROKER="alpaca", ALPACA_API_KEY="k", ALPACA_API_SECRET="s", ALPACA_ACCOUNT_CACHE_S=5
    )
    assert build_alpaca_trading_config(settings).account_cache_s == 5
