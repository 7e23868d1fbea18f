"""Target mode (``offline_mode=false``) on real SQLite, the local bus, the order consumer and the
simulated broker: newest completed bar only, stale data, target minus the book, the band, exits
clamped to the holding, duplicates across restarts, a book that cannot be read, the governor's
re-check. The bars are the synthetic vendor's, reached through the DAL's vendor chain."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from langgraph.runtime import Runtime

from app.dal import MarketData
from app.decision.pipeline import DecisionFrame
from app.domain.orders import OrderSide, OrderStatus
from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig
from app.portfolio.holdings import BookView
from app.risk.governor import GovernorState
from app.risk.guard import GuardDecision, GuardRequest, OrderGuard
from app.router import RouterRunRequest, run_router
from app.router.nodes import client_order_id, risk
from app.router.offline import OfflineBars
from app.router.schemas import RouterRunResult
from app.router.service import RouterService
from app.router.state import RouterContext, RouterState
from app.storage.db import Database
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository
from app.storage.repositories.orders import OrdersRepository
from app.storage.repositories.portfolio import PortfolioRepository
from app.storage.repositories.router_book import RouterBookRepository
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from tests.unit.router.conftest import RouterRig

# Monday 2026-09-28 09:00 New York, before the open: Friday's bar is the newest completed one
MONDAY_MORNING = datetime(2026, 9, 28, 13, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 9, 25, tzinfo=UTC)
# Tuesday 2026-10-13 17:00 New York, after the close: the synthetic breakout is flat on that bar
FLAT_EVENING = datetime(2026, 10, 13, 21, 0, tzinfo=UTC)

BASE = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": False,
    "publish_orders": True,
    "execute_orders": False,
}


def _request(**changes: Any) -> RouterRunRequest:
    return RouterRunRequest.model_validate(BASE | changes)


def _target(rig: RouterRig, clock: datetime, **settings: Any) -> RouterContext:
    """The rig's context reading vendor bars (synthetic through the DAL chain) at ``clock``."""
    updated = rig.settings.model_copy(update={"DAL_AUTO_ORDER": "synthetic", **settings})
    return dataclasses.replace(
        rig.context,
        settings=updated,
        market_data=MarketData(updated, None),
        offline_bars=None,
        clock=lambda: clock,
    )


def _consume(rig: RouterRig) -> None:
    """Run the order consumer over what is on exec.orders: trading.orders, fills and the book."""
    config = OrderConsumerConfig(
        hub=rig.settings.EH_HUB_ORDERS,
        group=rig.settings.EH_CONSUMER_GROUP,
        poll_timeout_s=0.05,
        idle_exit_s=0.3,
    )
    consumer = rig.bus.consumer(config.hub, config.group)
    try:
        OrderConsumer(consumer, OrdersRepository(rig.db), config).run()
    finally:
        consumer.close()


def _held(rig: RouterRig) -> Decimal:
    positions = PortfolioRepository(rig.db).positions("simulated")
    return sum((p.quantity for p in positions if p.symbol == "AAPL"), Decimal(0))


def test_decides_on_the_newest_completed_bar_only(rig: RouterRig) -> None:
    # the window reaches Monday, whose daily bar is still forming at 09:00: Friday decides
    result = run_router(_request(), _target(rig, MONDAY_MORNING))
    assert result.decision_mode == "target" and "decision:target" in result.events
    assert result.fallback_reason is None
    assert result.latest_bar_time == result.signal_bar_time == FRIDAY
    assert "strategy:breakout:target:long" in result.events
    assert result.held_qty == 0 and result.pending_qty == 0
    assert result.equity_source == "broker" and result.equity == float(rig.broker.get_account().equity)
    intent = result.intent
    assert intent is not None and intent.side is OrderSide.BUY and intent.bar_time == FRIDAY
    assert intent.qty is not None and float(intent.qty) == result.order_qty == result.target_qty
    assert intent.client_order_id == client_order_id("simulated", "AAPL", "breakout", FRIDAY)
    assert intent.ts == MONDAY_MORNING  # the run's clock
    # target = side x Kelly fraction x equity / price
    assert result.frac is not None and result.equity is not None
    assert result.notional == pytest.approx(result.frac * result.equity, rel=1e-4)
    assert result.published and len(rig.orders_on_bus()) == 1


@pytest.mark.parametrize(
    ("clock", "end", "stale"),
    [
        # Friday's daily bar on Monday morning: no session has run since it closed
        (MONDAY_MORNING, "2026-09-26T00:00:00Z", False),
        # Tuesday's bar on Monday morning: Wednesday, Thursday and Friday closed since
        (MONDAY_MORNING, "2026-09-22T12:00:00Z", True),
        # Thursday's bar on Monday morning: Friday's whole session has passed, plus tolerance
        (datetime(2026, 9, 28, 14, 0, tzinfo=UTC), "2026-09-24T12:00:00Z", True),
    ],
)
def test_stale_bars_end_the_run_before_any_decision(
    rig: RouterRig, clock: datetime, end: str, stale: bool
) -> None:
    result = run_router(_request(end=end, execute_orders=True), _target(rig, clock))
    if not stale:
        assert result.fallback_reason is None and "decision:target" in result.events
        return
    assert result.fallback_reason == "stale_data"
    assert "order:skipped:stale_data" in result.events
    assert any(e.startswith("data:stale:") for e in result.events)
    assert result.intent is None and not result.published and not result.executed
    assert result.latest_bar_time is not None and result.latest_bar_time < clock
    assert set(result.timings_ms) == {"ingest"}
    assert rig.orders_on_bus() == [] and rig.broker.orders() == []


def test_order_is_target_minus_book_and_small_differences_are_skipped(rig: RouterRig) -> None:
    first = run_router(_request(execute_orders=True), _target(rig, MONDAY_MORNING))
    assert first.executed and first.execution is not None
    _consume(rig)
    held = _held(rig)
    assert held == first.execution.fills[0].qty > 0
    tuesday = datetime(2026, 9, 29, 13, 0, tzinfo=UTC)  # Monday's bar decides
    # a wide band (half of equity): the difference is not worth an order
    banded = run_router(_request(), _target(rig, tuesday, ROUTER_REBALANCE_MIN_FRACTION=0.5))
    assert banded.held_qty == float(held) and banded.target_qty is not None
    assert "order:skipped:rebalance_band" in banded.events and banded.order_qty == 0
    assert banded.intent is None and not banded.published
    # no band: exactly the difference between target and holding is ordered
    exact = run_router(
        _request(),
        _target(rig, tuesday, ROUTER_REBALANCE_MIN_FRACTION=0.0, ROUTER_REBALANCE_MIN_NOTIONAL=0.0),
    )
    assert exact.order_qty == pytest.approx(exact.target_qty - float(held), abs=1e-6)  # type: ignore[operator]
    if exact.order_qty:
        assert exact.intent is not None
        assert float(exact.intent.qty or 0) == abs(exact.order_qty)
        assert exact.intent.side is (OrderSide.BUY if exact.order_qty > 0 else OrderSide.SELL)


def test_exit_sells_exactly_the_holding(rig: RouterRig) -> None:
    run_router(_request(execute_orders=True), _target(rig, MONDAY_MORNING))
    _consume(rig)
    held = _held(rig)
    assert held > 0
    # the paper account refuses a sell beyond what it holds (shorting off)
    paper_state = rig.broker.state
    strict = SimulatedBroker(SimulatedBrokerConfig(allow_short=False), state=paper_state)
    context = dataclasses.replace(_target(rig, FLAT_EVENING), broker=lambda: strict)
    exit_run = run_router(_request(execute_orders=True), context)
    assert "strategy:breakout:target:flat" in exit_run.events
    assert exit_run.target_qty == 0 and exit_run.order_qty == -float(held)
    assert exit_run.intent is not None and exit_run.intent.side is OrderSide.SELL
    assert exit_run.intent.qty == held and exit_run.executed
    _consume(rig)
    assert _held(rig) == 0 and strict.list_positions() == []
    # flat and holding nothing: on target, nothing ordered
    again = run_router(
        _request(), dataclasses.replace(_target(rig, datetime(2026, 10, 14, 21, 0, tzinfo=UTC)))
    )
    assert "order:skipped:on_target" in again.events and again.intent is None


def _decision_state(side: float, held: Decimal, equity: Decimal, price: Decimal) -> RouterState:
    index = pd.DatetimeIndex([FRIDAY])
    frame = DecisionFrame(
        index=index,
        position=np.array([side]),
        prob=np.array([0.6]),
        payoff=np.array([1.5]),
        frac=np.array([0.1]),
        target=np.array([side * 0.1]),
        regime=np.array(["all"], dtype=object),
        regime_code=np.zeros(1, dtype=np.int8),
    )
    return {
        "request": _request(),
        "run_id": "flip",
        "decisions": frame,
        "price": price,
        "equity": float(equity),
        "held_qty": held,
        "pending_qty": Decimal(0),
        "client_order_id": client_order_id("simulated", "AAPL", "breakout", FRIDAY),
        "now": MONDAY_MORNING,
        "events": [],
        "timings_ms": {},
    }


def test_a_flip_is_two_orders_the_first_only_closes(rig: RouterRig) -> None:
    runtime = Runtime(context=rig.context)
    price, equity = Decimal(100), Decimal(100_000)
    # target short 100 shares (0.1 x 100,000 / 100) while 40 are held long: sell only the 40
    first = risk(_decision_state(-1.0, Decimal(40), equity, price), runtime)
    assert first["target_qty"] == Decimal(-100) and first["order_qty"] == Decimal(-40)
    assert "order:clamped_to_holding" in first["events"]
    assert first["intent"].side is OrderSide.SELL and first["intent"].qty == Decimal(40)
    # the next run finds the book flat: now the short is opened
    second = risk(_decision_state(-1.0, Decimal(0), equity, price), runtime)
    assert second["order_qty"] == Decimal(-100) and "order:clamped_to_holding" not in second["events"]
    assert second["intent"].side is OrderSide.SELL and second["intent"].qty == Decimal(100)


def test_open_orders_count_as_held(rig: RouterRig) -> None:
    # first run publishes without executing: the consumer records the order as working (new)
    first = run_router(_request(), _target(rig, MONDAY_MORNING))
    assert first.intent is not None
    _consume(rig)
    tuesday = datetime(2026, 9, 29, 13, 0, tzinfo=UTC)
    context = _target(rig, tuesday, ROUTER_REBALANCE_MIN_FRACTION=0.0, ROUTER_REBALANCE_MIN_NOTIONAL=0.0)
    second = run_router(_request(), context)
    assert second.held_qty == 0 and second.pending_qty == float(first.intent.qty or 0)
    assert second.order_qty == pytest.approx(second.target_qty - second.pending_qty, abs=1e-6)  # type: ignore[operator]


def _service(rig: RouterRig, clock: datetime) -> RouterService:
    """A fresh service as a restarted process builds it: its own memo, guard and book reader
    over the same database and the same venue."""
    context = dataclasses.replace(
        _target(rig, clock),
        guard=OrderGuard(GuardRepository(rig.db), rig.context.guard.limits),
        book=RouterBookRepository(rig.db),
        offline_bars=OfflineBars(MarketData(rig.settings, None)),
    )
    return RouterService(context, max_bars=rig.settings.ROUTER_MAX_BARS)


def _twice(rig: RouterRig, **changes: Any) -> tuple[RouterRunResult, RouterRunResult]:
    first_process = _service(rig, MONDAY_MORNING)
    first = first_process.run(_request(**changes))
    first_process.close()
    restarted = _service(rig, MONDAY_MORNING)
    second = restarted.run(_request(**changes))
    restarted.close()
    return first, second


def test_restart_after_submit_asks_the_broker_and_sends_nothing(rig: RouterRig) -> None:
    # nothing recorded in trading.orders (no publish): only the venue knows the first order
    first, second = _twice(rig, publish_orders=False, execute_orders=True)
    assert first.executed and first.intent is not None and second.intent is not None
    assert second.intent.client_order_id == first.intent.client_order_id
    assert "order:skipped:duplicate" in second.events and not second.executed
    assert second.existing_order is not None and second.existing_order["source"] == "broker"
    assert second.execution == first.execution
    assert len(rig.broker.orders()) == 1


def test_restart_before_the_consumer_wrote_finds_the_reservation(rig: RouterRig) -> None:
    first, second = _twice(rig)
    assert first.published
    assert "order:skipped:duplicate" in second.events and not second.published
    assert second.existing_order == {
        "client_order_id": first.intent.client_order_id,  # type: ignore[union-attr]
        "status": "reserved",
        "source": "reservation",
        "side": "buy",
    }
    assert len(rig.orders_on_bus()) == 1


def test_restart_with_the_order_still_open_finds_it_in_the_orders_table(rig: RouterRig) -> None:
    first_process = _service(rig, MONDAY_MORNING)
    first = first_process.run(_request())
    first_process.close()
    _consume(rig)  # recorded as new: still working
    restarted = _service(rig, MONDAY_MORNING)
    second = restarted.run(_request(execute_orders=True))
    restarted.close()
    assert first.intent is not None
    assert second.existing_order is not None and second.existing_order["source"] == "orders"
    assert second.existing_order["status"] == OrderStatus.NEW
    assert "order:skipped:duplicate" in second.events
    assert not second.published and not second.executed
    assert len(rig.orders_on_bus()) == 1 and rig.broker.orders() == []


def test_an_unreadable_book_fails_closed(rig: RouterRig) -> None:
    down = Database("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    try:
        for book in (RouterBookRepository(down), None):
            context = dataclasses.replace(_target(rig, MONDAY_MORNING), book=book)
            result = run_router(_request(execute_orders=True), context)
            assert result.fallback_reason == "book_unavailable"
            assert "order:skipped:book_unavailable" in result.events
            assert result.intent is None and not result.published and not result.executed
    finally:
        down.dispose()
    assert rig.orders_on_bus() == [] and rig.broker.orders() == []


def test_equity_falls_back_to_the_book_when_the_broker_does_not_answer(rig: RouterRig) -> None:
    from app.errors import ConfigError

    def no_broker() -> Any:
        raise ConfigError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_API_SECRET")

    context = dataclasses.replace(_target(rig, MONDAY_MORNING), broker=no_broker)
    result = run_router(_request(), context)
    assert result.equity_source == "book" and result.equity == rig.settings.RISK_ACCOUNT_EQUITY
    assert result.published


@pytest.mark.parametrize(
    "venue_fault",
    ["account_unreadable", "positions_unreadable", "equity_not_positive"],
)
def test_a_real_venue_that_cannot_confirm_the_account_sizes_nothing(rig: RouterRig, venue_fault: str) -> None:
    """The book's figure stands in for a missing broker, never for a venue that fails to answer."""
    from app.execution.alpaca.broker import AlpacaBroker
    from app.execution.alpaca.config import AlpacaTradingConfig
    from tests.unit.execution.alpaca_replay import alpaca_replay_server, load

    with alpaca_replay_server() as (url, state):
        if venue_fault == "account_unreadable":
            state.mode = "read_error"  # 503 on the account, positions and orders
        elif venue_fault == "positions_unreadable":
            state.positions = {"AAPL": {"symbol": "AAPL", "qty": "not-a-number"}}
        else:
            state.account = load("account.json") | {"equity": "0"}
        venue = AlpacaBroker(AlpacaTradingConfig(api_key="PKTESTKEY", api_secret="test-secret", base_url=url))
        context = dataclasses.replace(_target(rig, MONDAY_MORNING), broker=lambda: venue)
        result = run_router(_request(execute_orders=True), context)
        posted = [path for method, path in state.requests if method == "POST"]
    assert result.fallback_reason == "account_unconfirmed", result.events
    assert "order:skipped:account_unconfirmed" in result.events
    assert result.intent is None and not result.published and not result.executed
    assert posted == [] and rig.orders_on_bus() == []


class _FlipAfterGuard(OrderGuard):
    """The operator sets the governor between the guard's check and the publish."""

    def __init__(self, base: OrderGuard, db: Database, state: GovernorState) -> None:
        super().__init__(base.store, base.limits)
        self._switch = KillSwitchRepository(db)
        self._state = state

    def check(self, request: GuardRequest, *, now: datetime | None = None) -> GuardDecision:
        decision = super().check(request, now=now)
        self._switch.set_state(self._state, reason="operator", actor="pytest")
        return decision


def test_reducing_at_the_recheck_refuses_a_buy_but_lets_an_exit_go(rig: RouterRig) -> None:
    reducing = _FlipAfterGuard(rig.context.guard, rig.db, GovernorState.REDUCING)
    buy = run_router(
        _request(execute_orders=True), dataclasses.replace(_target(rig, MONDAY_MORNING), guard=reducing)
    )
    assert buy.guard is not None and buy.guard.allowed
    assert buy.fallback_reason == "kill_switch_reducing" and not buy.published and not buy.executed
    assert rig.orders_on_bus() == [] and rig.broker.orders() == []
    # put the account in a position while ACTIVE, then exit it under REDUCING
    KillSwitchRepository(rig.db).set_state(GovernorState.ACTIVE, reason="operator", actor="pytest")
    opened = run_router(_request(execute_orders=True), _target(rig, MONDAY_MORNING))
    assert opened.executed
    _consume(rig)
    exit_run = run_router(
        _request(execute_orders=True), dataclasses.replace(_target(rig, FLAT_EVENING), guard=reducing)
    )
    assert exit_run.intent is not None and exit_run.intent.side is OrderSide.SELL
    assert exit_run.fallback_reason is None and exit_run.published and exit_run.executed


def test_halted_at_the_recheck_refuses_everything(rig: RouterRig) -> None:
    halted = _FlipAfterGuard(rig.context.guard, rig.db, GovernorState.HALTED)
    result = run_router(
        _request(execute_orders=True), dataclasses.replace(_target(rig, MONDAY_MORNING), guard=halted)
    )
    assert result.fallback_reason == "kill_switch_active" and not result.published
    assert rig.orders_on_bus() == [] and rig.broker.orders() == []


def test_book_view_marks_equity_from_realised_and_the_symbol_price() -> None:
    from app.portfolio import Position

    view = BookView(
        account="simulated",
        symbol="AAPL",
        positions=(
            Position(account="simulated", symbol="AAPL", quantity=Decimal(10), cost_basis=Decimal(1000)),
            Position(
                account="simulated",
                symbol="MSFT",
                quantity=Decimal(0),
                realised_pnl=Decimal(-50),
            ),
        ),
    )
    assert view.held == Decimal(10)
    assert view.marked_equity(Decimal(100_000), Decimal(120)) == Decimal(100_000 - 50 + 200)


def test_an_order_only_the_venue_knows_is_recorded_from_its_report(rig: RouterRig) -> None:
    crashed = _service(rig, MONDAY_MORNING)
    first = crashed.run(_request(publish_orders=False, execute_orders=True))  # filled, never recorded
    crashed.close()
    restarted = _service(rig, MONDAY_MORNING)
    second = restarted.run(_request(execute_orders=True))
    restarted.close()
    assert first.execution is not None and second.existing_order is not None
    assert second.existing_order["source"] == "broker" and "order:update_published" in second.events
    assert len(rig.broker.orders()) == 1
    _consume(rig)
    order = OrdersRepository(rig.db).get_order(first.execution.client_order_id)
    assert order.order.status == OrderStatus.FILLED
    assert _held(rig) == first.execution.fills[0].qty
