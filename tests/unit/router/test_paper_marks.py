"""The router marks the paper account at the newest completed close before sizing (a routing
pass: every symbol's, before the first is sized), and the governor values the other symbols
of the book at the broker's marks (not their last fills)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from app.dal import MarketData
from app.domain.intervals import get_interval
from app.errors import InputError
from app.execution.alpaca.broker import AlpacaBroker
from app.execution.alpaca.config import AlpacaTradingConfig
from app.portfolio import money
from app.risk.governor import GovernorLimits, GovernorState
from app.risk.guard import GuardLimits, GuardRequest, OrderGuard
from app.risk.sizing import QTY_STEP
from app.router import RouterRunRequest, run_router
from app.router.freshness import complete_bars
from app.router.nodes import mark_paper_account
from app.router.service import RouterService
from app.router.state import RouterContext
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository
from app.storage.repositories.orders import OrdersRepository
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from tests.unit.execution.alpaca_replay import alpaca_replay_server
from tests.unit.router.conftest import RouterRig

MONDAY_MORNING = datetime(2026, 9, 28, 13, 0, tzinfo=UTC)
"""Friday 2026-09-25's daily bar is the newest completed one (the synthetic breakout is long)."""
LATER = datetime(2026, 10, 6, 21, 0, tzinfo=UTC)


def _request(**changes: Any) -> RouterRunRequest:
    base = {
        "symbol": "AAPL",
        "start": "2025-01-02T00:00:00Z",
        "strategy": "breakout",
        "offline_mode": False,
        "publish_orders": True,
        "execute_orders": True,
    }
    return RouterRunRequest.model_validate(base | changes)


def _context(rig: RouterRig, clock: datetime) -> RouterContext:
    updated = rig.settings.model_copy(update={"DAL_AUTO_ORDER": "synthetic"})
    return dataclasses.replace(
        rig.context,
        settings=updated,
        market_data=MarketData(updated, None),
        offline_bars=None,
        clock=lambda: clock,
    )


def _consume(rig: RouterRig) -> None:
    config = OrderConsumerConfig(hub=rig.settings.EH_HUB_ORDERS, group=rig.settings.EH_CONSUMER_GROUP)
    consumer = rig.bus.consumer(config.hub, config.group)
    worker = OrderConsumer(consumer, OrdersRepository(rig.db), config)
    try:
        while batch := consumer.poll(1000, 0.0):
            worker.process(batch)
    finally:
        consumer.close()


def _held(rig: RouterRig) -> tuple[Decimal, Decimal]:
    (position,) = [p for p in rig.broker.list_positions() if p.symbol == "AAPL"]
    assert position.current_price is not None
    return position.quantity, position.current_price


def _newest_close(rig: RouterRig, clock: datetime) -> Decimal:
    """The close of the newest completed daily bar at ``clock``, as the router reads it."""
    context = _context(rig, clock)
    bars = context.market_data.fetch("auto", "AAPL", datetime(2025, 1, 2, tzinfo=UTC), clock).bars
    done = complete_bars(bars, get_interval("1Day"), clock)
    return Decimal(str(float(done["close"].iloc[-1])))


def test_the_router_marks_the_paper_account_at_the_newest_close_before_sizing(rig: RouterRig) -> None:
    opened = run_router(_request(), _context(rig, MONDAY_MORNING))
    assert opened.executed and opened.equity_source == "broker"
    qty, price = _held(rig)
    assert price == _newest_close(rig, MONDAY_MORNING)
    cash = rig.broker.get_account().cash
    # a stale price on the paper account (nothing else marks it between runs)
    rig.broker.mark({"AAPL": price / 2})
    assert float(rig.broker.get_account().equity) == pytest.approx(float(cash + qty * price / 2), abs=0.01)
    newest = _newest_close(rig, LATER)
    assert newest != price
    later = run_router(_request(), _context(rig, LATER))
    assert later.equity_source == "broker" and later.fallback_reason is None and later.equity is not None
    # sized on the account valued at the newest close, not at the stale mark
    assert later.equity == pytest.approx(float(cash + qty * newest), abs=0.01)
    assert abs(later.equity - float(cash + qty * price / 2)) > 100.0
    if not later.executed:  # no fill moved the mark since: the account keeps the router's
        assert _held(rig)[1] == newest


def test_a_drill_never_marks_the_paper_account(rig: RouterRig) -> None:
    run_router(_request(), _context(rig, MONDAY_MORNING))
    qty, price = _held(rig)
    rig.broker.mark({"AAPL": price / 2})
    drill = run_router(_request(offline_mode=True, execute_orders=False), _context(rig, LATER))
    assert drill.decision_mode == "drill"
    assert _held(rig) == (qty, price / 2)


def test_the_governor_values_other_symbols_at_the_brokers_marks(rig: RouterRig) -> None:
    opened = run_router(_request(), _context(rig, MONDAY_MORNING))
    assert opened.executed
    _consume(rig)  # the fill is in the book the governor reads
    qty, price = _held(rig)
    fill = opened.execution.fills[0].price if opened.execution is not None else None
    assert fill is not None
    limits = GuardLimits(
        governor=GovernorLimits(max_gross_exposure=10.0), starting_equity=rig.settings.RISK_ACCOUNT_EQUITY
    )
    guard = OrderGuard(GuardRepository(rig.db), limits)

    def gross(order_id: str, marks: dict[str, float] | None) -> float:
        decision = guard.check(
            GuardRequest(
                symbol="MSFT",
                notional=1_000.0,
                client_order_id=order_id,
                side="buy",
                price=100.0,
                marks=marks,
            )
        )
        assert decision.allowed, decision
        guard.release(order_id)
        return decision.limit_use["max_gross_exposure"] * 10.0

    def expected(mark: Decimal) -> float:
        equity = Decimal(rig.settings.RISK_ACCOUNT_EQUITY) + qty * (mark - fill)  # no other P&L yet
        return float((qty * mark + 1_000) / equity)

    # without marks: AAPL at its last fill; with the broker's: at the broker's price
    assert gross("t-1", None) == pytest.approx(expected(fill), abs=1e-4)  # limit use: 4 decimals
    assert gross("t-2", {"AAPL": float(price * 2)}) == pytest.approx(expected(price * 2), abs=1e-4)


def test_a_whole_exit_is_reducing_whatever_its_float_notional(rig: RouterRig) -> None:
    """A float notional can round above the holding's value at the order's price: with the
    order's quantity the governor sees the exit for what it is, and REDUCING admits it."""
    opened = run_router(_request(), _context(rig, MONDAY_MORNING))
    assert opened.executed
    _consume(rig)
    qty, _ = _held(rig)
    # a price at which float(qty x price) / price exceeds qty in decimal arithmetic
    price = next(
        p
        for p in (100.0 + k * 0.0137 for k in range(100_000))
        if Decimal(str(float(qty * Decimal(str(p))))) / Decimal(str(p)) > qty
    )
    KillSwitchRepository(rig.db).set_state(GovernorState.REDUCING, reason="operator", actor="pytest")
    guard = rig.context.guard
    notional = float(qty * Decimal(str(price)))

    def check(order_id: str, with_qty: bool) -> str | None:
        decision = guard.check(
            GuardRequest(
                symbol="AAPL",
                notional=notional,
                client_order_id=order_id,
                side="sell",
                price=price,
                qty=qty if with_qty else None,
            )
        )
        guard.release(order_id)
        return decision.reason

    assert check("exit-float", with_qty=False) == "kill_switch_reducing"  # the float alone misleads
    assert check("exit-qty", with_qty=True) is None


def _pass_requests(*symbols: str) -> list[RouterRunRequest]:
    return [_request(symbol=symbol) for symbol in symbols]


def _newest_closes(rig: RouterRig, clock: datetime, *symbols: str) -> dict[str, Decimal]:
    context = _context(rig, clock)
    out = {}
    for symbol in symbols:
        bars = context.market_data.fetch("auto", symbol, datetime(2025, 1, 2, tzinfo=UTC), clock).bars
        done = complete_bars(bars, get_interval("1Day"), clock)
        out[symbol] = Decimal(str(float(done["close"].iloc[-1])))
    return out


def _pass_router(rig: RouterRig, clock: datetime) -> RouterService:
    """The router service at ``clock``, without a rebalance band (every re-size trades)."""
    context = _context(rig, clock)
    no_band = {"ROUTER_REBALANCE_MIN_NOTIONAL": 0, "ROUTER_REBALANCE_MIN_FRACTION": 0}
    settings = context.settings.model_copy(update=no_band)
    return RouterService(dataclasses.replace(context, settings=settings), max_bars=settings.ROUTER_MAX_BARS)


def _valued(cash: Decimal, held: dict[str, Decimal], prices: dict[str, Decimal]) -> Decimal:
    """The paper account's equity: cash plus each position at ``qty x price`` in money steps."""
    return cash + sum((money(held[s] * prices[s]) for s in sorted(held)), Decimal(0))


def test_a_routing_pass_marks_every_symbol_before_sizing_the_first(rig: RouterRig) -> None:
    """AMZN is routed before AAPL, yet sized on the account valuing AAPL at its new close."""
    symbols = ("AMZN", "AAPL")  # the synthetic breakout holds both on Monday, only AMZN later
    opened = list(_pass_router(rig, MONDAY_MORNING).run_pass(_pass_requests(*symbols)))
    assert all(r.result is not None and r.result.executed for r in opened), opened
    _consume(rig)
    held = {p.symbol: p.quantity for p in rig.broker.list_positions()}
    old = {p.symbol: p.current_price for p in rig.broker.list_positions()}
    cash = rig.broker.get_account().cash
    new = _newest_closes(rig, LATER, *symbols)
    assert all(new[s] != old[s] for s in symbols)

    first, second = _pass_router(rig, LATER).run_pass(_pass_requests(*symbols))
    amzn, aapl = first.result, second.result
    assert amzn is not None and aapl is not None
    assert amzn.equity_source == aapl.equity_source == "broker"
    # both closes are this pass's, though AAPL is routed after AMZN
    marked = _valued(cash, held, new)
    assert amzn.equity == float(marked)
    stale = _valued(cash, held, {"AMZN": new["AMZN"], "AAPL": old["AAPL"]})  # the lagging mark
    assert abs(float(marked - stale)) > 100.0
    assert amzn.position == 1.0 and amzn.frac is not None
    target = (Decimal(str(amzn.position * amzn.frac)) * marked / new["AMZN"]).quantize(
        QTY_STEP, rounding=ROUND_DOWN
    )
    assert amzn.target_qty == float(target)
    assert amzn.order_qty == float(target - held["AMZN"])
    # AAPL (flat now) sells everything it holds, at its new close less the slippage
    assert aapl.target_qty == 0.0 and aapl.order_qty == float(-held["AAPL"])
    assert aapl.executed and aapl.execution is not None
    assert aapl.execution.fills[0].qty == held["AAPL"]
    # AAPL was sized on the account after AMZN's fill, both valued at the new closes
    assert amzn.execution is not None
    (fill,) = amzn.execution.fills
    bought = fill.qty if amzn.execution.side == "buy" else -fill.qty
    after = _valued(
        cash - bought * fill.price - fill.fee, {"AMZN": held["AMZN"] + bought, "AAPL": held["AAPL"]}, new
    )
    assert aapl.equity == float(after)


def test_only_the_paper_account_is_marked_never_a_real_venue(rig: RouterRig) -> None:
    assert mark_paper_account(rig.broker, {"AAPL": Decimal(7)})
    assert rig.broker.state.last_prices["AAPL"] == Decimal(7)
    with alpaca_replay_server() as (url, state):
        venue = AlpacaBroker(AlpacaTradingConfig(api_key="PKTESTKEY", api_secret="test-secret", base_url=url))
        assert not mark_paper_account(venue, {"AAPL": Decimal(7)})
    assert state.requests == []  # nothing was sent to the venue


def test_a_symbol_that_cannot_be_read_is_reported_and_the_pass_routes_the_others(rig: RouterRig) -> None:
    too_long = _request(symbol="MSFT", interval="1Min", start="2015-01-02T00:00:00Z")
    bad, good = _pass_router(rig, MONDAY_MORNING).run_pass([too_long, _request()])
    assert bad.result is None and isinstance(bad.error, InputError) and "ROUTER_MAX_BARS" in str(bad.error)
    assert good.error is None and good.result is not None and good.result.executed
    assert good.result.timings_ms["ingest"] > 0  # the pass's own read of the bars
    assert "MSFT" not in rig.broker.state.last_prices  # nothing read, nothing marked
