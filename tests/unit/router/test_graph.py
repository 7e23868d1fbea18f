"""The router graph end to end on embedded backends, node by node and as a whole."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from app.bootstrap import build_risk_config
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE, OrderEvent, OrderSide, OrderStatus
from app.errors import BusError, ConfigError, OrderRejected
from app.execution.simulated import SimulatedBroker
from app.router import NODE_NAMES, RouterRunRequest, build_graph, compiled_graph, run_router
from app.router.nodes import client_order_id, find_action
from app.storage.repositories.kill_switch import KillSwitchRepository
from tests.unit.router.conftest import RouterRig

SPEC = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "end": "2026-11-20T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": False,
}


def _request(**changes: Any) -> RouterRunRequest:
    return RouterRunRequest.model_validate(SPEC | changes)


def test_spec_payload_publishes_one_intent_keyed_by_symbol(rig: RouterRig) -> None:
    result = run_router(_request(), rig.context)
    for event in (
        "ingest:synthetic",
        "priors:computed",
        "risk:fractional_kelly",
        "guard:passed",
        "order:published",
    ):
        assert event in result.events
    assert result.events.index("priors:computed") < result.events.index("risk:fractional_kelly")
    assert result.published and not result.executed and result.fallback_reason is None
    assert result.intent is not None and result.intent.status is OrderStatus.NEW
    assert result.notional == float(result.intent.notional or 0) > 0
    assert 0 < (result.frac or 0) <= rig.settings.RISK_MAX_POSITION_FRACTION
    assert 0 <= (result.prob or -1) <= 1
    assert set(result.timings_ms) == set(NODE_NAMES)
    (envelope,) = rig.orders_on_bus()
    assert envelope.type == ORDER_EVENT_INTENT and envelope.partition_key == "AAPL"
    assert envelope.correlation_id == result.run_id
    assert OrderEvent.model_validate(envelope.payload) == result.intent


def test_intent_follows_the_last_position_change_and_its_bar(rig: RouterRig) -> None:
    result = run_router(_request(), rig.context)
    assert result.intent is not None and result.signal_bar_time is not None
    assert result.intent.bar_time == result.signal_bar_time
    assert result.latest_bar_time is not None and result.signal_bar_time <= result.latest_bar_time
    side = result.intent.side
    assert f"strategy:breakout:{side}" in result.events
    expected = client_order_id("simulated", "AAPL", "breakout", result.signal_bar_time, drill=True)
    assert result.intent.client_order_id == expected
    assert result.decision_mode == "drill" and "decision:drill" in result.events


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kill_switch_active": True}, "kill_switch_active"),
        ({"kill_switch_notional": 1.0}, "kill_switch_notional"),
    ],
)
def test_request_limits_trip_the_guard_and_nothing_leaves(
    rig: RouterRig, changes: dict[str, Any], reason: str
) -> None:
    result = run_router(_request(execute_orders=True, **changes), rig.context)
    assert result.fallback_reason == reason
    assert f"order:skipped:{reason}" in result.events and "order:published" not in result.events
    assert not result.published and not result.executed
    assert rig.orders_on_bus() == [] and rig.broker.orders() == []
    assert set(result.timings_ms) == {"ingest", "features", "strategy", "priors", "book", "risk", "guard"}
    assert KillSwitchRepository(rig.db).status().trips[reason] == 1


def test_global_switch_refuses_the_run(rig: RouterRig) -> None:
    KillSwitchRepository(rig.db).set(True, reason="test", actor="pytest")
    result = run_router(_request(execute_orders=True), rig.context)
    assert result.fallback_reason == "kill_switch_active"
    assert rig.orders_on_bus() == [] and rig.broker.orders() == []


def test_database_outage_fails_closed(rig: RouterRig) -> None:
    from app.risk.guard import GuardLimits, OrderGuard
    from app.storage.db import Database
    from app.storage.repositories.guard import GuardRepository

    down = Database("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    context = rig.with_context(guard=OrderGuard(GuardRepository(down), GuardLimits()))
    result = run_router(_request(execute_orders=True), context)
    down.dispose()
    assert result.fallback_reason == "kill_switch_unavailable"
    assert rig.orders_on_bus() == [] and rig.broker.orders() == []


def test_execution_fills_and_publishes_the_update(rig: RouterRig) -> None:
    result = run_router(_request(execute_orders=True), rig.context)
    assert "order:executed" in result.events and result.executed
    assert result.execution is not None and result.execution.status is OrderStatus.FILLED
    assert result.execution.client_order_id == result.intent.client_order_id  # type: ignore[union-attr]
    intent, update = rig.orders_on_bus()
    assert (intent.type, update.type) == (ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE)
    report = OrderEvent.model_validate(update.payload)
    assert report.fills and report.fills[0].qty > 0 and report.broker_order_id


def test_retried_run_places_no_second_order(rig: RouterRig) -> None:
    first = run_router(_request(execute_orders=True), rig.context)
    second = run_router(_request(execute_orders=True), rig.context)
    assert first.run_id != second.run_id
    assert first.intent is not None and second.intent is not None
    assert first.intent.client_order_id == second.intent.client_order_id
    assert len(rig.broker.orders()) == 1
    assert first.execution == second.execution
    envelopes = rig.orders_on_bus()
    # the same intent and update twice, with the same event ids: consumers drop the repeats
    assert len({e.event_id for e in envelopes}) == 2 and len(envelopes) == 4


def test_publish_disabled_publishes_nothing_but_can_execute(rig: RouterRig) -> None:
    result = run_router(_request(publish_orders=False, execute_orders=True), rig.context)
    assert "publish:disabled" in result.events and "order:executed" in result.events
    assert not result.published and result.executed
    assert rig.orders_on_bus() == []


def test_bus_failure_stops_the_order_before_execution(rig: RouterRig) -> None:
    def broken_bus() -> Any:
        raise BusError("bus down")

    result = run_router(_request(execute_orders=True), rig.with_context(bus=broken_bus))
    assert result.fallback_reason == "bus_unavailable"
    assert not result.published and not result.executed and rig.broker.orders() == []


def test_unconfigured_broker_names_the_cause(rig: RouterRig) -> None:
    def no_broker() -> Any:
        raise ConfigError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_API_SECRET")

    result = run_router(_request(execute_orders=True), rig.with_context(broker=no_broker))
    assert result.fallback_reason == "broker_unconfigured" and not result.executed
    assert "order:skipped:broker_unconfigured" in result.events
    # nothing half-done: the intent was not published either
    assert not result.published and rig.orders_on_bus() == []


def test_broker_rejection_is_published_as_a_rejected_update(rig: RouterRig) -> None:
    class Refusing(SimulatedBroker):
        def submit(self, intent: OrderEvent, *, market_price: Decimal) -> OrderEvent:
            raise OrderRejected("broker_rejected", "insufficient buying power")

    result = run_router(_request(execute_orders=True), rig.with_context(broker=Refusing))
    assert result.fallback_reason == "broker_rejected" and not result.executed
    _, update = rig.orders_on_bus()
    assert OrderEvent.model_validate(update.payload).status is OrderStatus.REJECTED


def test_paper_account_refuses_to_sell_what_it_does_not_hold(rig: RouterRig) -> None:
    paper = SimulatedBroker()  # shorting off, as configured by default
    result = run_router(_request(execute_orders=True), rig.with_context(broker=lambda: paper))
    assert result.intent is not None and result.intent.side is OrderSide.SELL
    assert result.fallback_reason == "broker_rejected" and not result.executed
    assert paper.orders() == [] and paper.list_positions() == []
    _, update = rig.orders_on_bus()
    assert OrderEvent.model_validate(update.payload).status is OrderStatus.REJECTED


def test_flat_window_yields_no_intent(rig: RouterRig) -> None:
    # three bars: too few for a 20-bar breakout, so the strategy never takes a position
    result = run_router(_request(start="2026-11-16", end="2026-11-18"), rig.context)
    assert result.intent is None and not result.published
    assert "order:skipped:no_signal" in result.events and result.fallback_reason is None


def test_graph_is_compiled_once_with_the_named_nodes() -> None:
    assert compiled_graph() is compiled_graph()
    assert set(build_graph().nodes) == set(NODE_NAMES)


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ([0, 0, 0], None),
        ([0, 1, 1], (1, 1, 1.0, 0.0, None)),
        ([1, 1, 0, 0], (2, -1, 0.0, 1.0, 0)),
        ([0, 1, 1, 0, 1, 0], (5, -1, 0.0, 1.0, 4)),
        ([0, -1, 1], (2, 1, 1.0, -1.0, 1)),
    ],
)
def test_find_action_picks_the_last_change(position: list[int], expected: tuple[Any, ...] | None) -> None:
    action = find_action(np.asarray(position, dtype=np.float64))
    if expected is None:
        assert action is None
    else:
        assert action is not None
        assert (
            action.bar,
            action.side,
            action.new_position,
            action.old_position,
            action.entry_bar,
        ) == expected


def test_client_order_id_is_deterministic_and_distinct() -> None:
    bar = datetime(2025, 3, 4, tzinfo=UTC)
    same = client_order_id("simulated", "AAPL", "breakout", bar)
    assert same == client_order_id("simulated", "AAPL", "breakout", bar)
    assert same != client_order_id("simulated", "AAPL", "momentum", bar)
    assert same != client_order_id("simulated", "MSFT", "breakout", bar)
    assert same != client_order_id("alpaca-paper", "AAPL", "breakout", bar)
    assert same != client_order_id("simulated", "AAPL", "breakout", datetime(2025, 3, 5, tzinfo=UTC))
    # a drill's id never equals a target run's for the same bar
    assert client_order_id("simulated", "AAPL", "breakout", bar, drill=True) != same
    longest = client_order_id("alpaca-live", "A" * 32, "s" * 64, bar)
    assert len(longest) <= 128


def test_request_dates_without_zone_mean_utc() -> None:
    request = _request(start="2025-01-02", end="2025-03-01T15:30:00")
    assert request.start == datetime(2025, 1, 2, tzinfo=UTC)
    assert request.end == datetime(2025, 3, 1, 15, 30, tzinfo=UTC)
    assert _request(symbol=" aapl ").symbol == "AAPL"


def test_end_after_now_reads_no_bar_from_the_future(rig: RouterRig) -> None:
    result = run_router(_request(start="2026-06-01", end="2999-01-01"), rig.context)
    assert result.latest_bar_time is not None and result.latest_bar_time <= datetime.now(UTC)


def test_zero_sized_position_yields_no_intent(rig: RouterRig) -> None:
    from app.decision import REGIME_LABELS

    flat_everywhere = build_risk_config(
        rig.settings,
        agent="fractional_kelly",
        regime_aware=True,
        regime_multipliers=dict.fromkeys(REGIME_LABELS, 0.0),
    )
    result = run_router(_request(execute_orders=True), rig.with_context(risk=flat_everywhere))
    assert result.intent is None and result.notional == 0.0
    assert "order:skipped:zero_size" in result.events
    assert not result.published and not result.executed and rig.orders_on_bus() == []


def test_online_mode_goes_through_the_dal_vendor_chain(rig: RouterRig) -> None:
    from app.dal import MarketData

    settings = rig.settings.model_copy(update={"DAL_AUTO_ORDER": "synthetic"})
    context = rig.with_context(market_data=MarketData(settings, None), offline_bars=None)
    # the run's clock: Friday 2026-11-20 before the open, so Thursday's bar is the newest
    friday = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    result = run_router(_request(offline_mode=False), dataclasses.replace(context, clock=lambda: friday))
    assert result.events[0] == "ingest:synthetic" and result.vendor == "synthetic"
    assert result.decision_mode == "target" and result.fallback_reason is None
    assert result.signal_bar_time == result.latest_bar_time == datetime(2026, 11, 19, tzinfo=UTC)
    assert result.held_qty == 0 and result.equity_source == "broker"
    # an empty book: the order is the whole target, published when it clears the band
    assert result.order_qty == result.target_qty
    assert result.published == (result.intent is not None)


def test_a_drill_never_reaches_a_real_venue(rig: RouterRig) -> None:
    from app.bootstrap import build_broker

    # an Alpaca broker pointed at a closed loopback port: any request would fail loudly
    settings = rig.settings.model_copy(
        update={
            "BROKER": "alpaca",
            "ALPACA_API_KEY": SecretStr("test-key"),
            "ALPACA_API_SECRET": SecretStr("test-secret"),
            "ALPACA_TRADING_BASE_URL": "http://127.0.0.1:9",
        }
    )
    alpaca = build_broker(settings)
    assert alpaca.kind == "alpaca"
    result = run_router(_request(execute_orders=True), rig.with_context(broker=lambda: alpaca))
    assert result.fallback_reason == "drill_not_executable"
    assert "order:skipped:drill_not_executable" in result.events
    assert not result.published and not result.executed and rig.orders_on_bus() == []
    # the simulated paper account may execute a drill
    assert run_router(_request(execute_orders=True), rig.context).executed


def test_runbook_smoke_passes_twice_with_the_identical_intent(rig: RouterRig) -> None:
    runs = [run_router(_request(start="2025-01-02", end=None), rig.context) for _ in range(2)]
    for result in runs:
        for event in ("ingest:synthetic", "priors:computed", "risk:fractional_kelly", "order:published"):
            assert event in result.events
        assert result.fallback_reason is None and result.decision_mode == "drill"
    first, second = runs
    assert first.intent is not None and second.intent is not None
    assert first.intent.client_order_id == second.intent.client_order_id
    envelopes = rig.orders_on_bus()
    # the same intent published twice under one event id: the consumer keeps one
    assert len(envelopes) == 2 and envelopes[0].event_id == envelopes[1].event_id
