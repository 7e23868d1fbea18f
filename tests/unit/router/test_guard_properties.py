"""Property test over random payloads: a tripped or undecidable guard never lets an order out."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.bootstrap import build_bus, build_database, build_router_risk_config
from app.bus.ports import Bus
from app.config import Settings
from app.dal import MarketData
from app.domain.orders import OrderEvent
from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig
from app.risk.guard import GuardLimits, OrderGuard
from app.router import RouterRunRequest, run_router
from app.router.state import RouterContext
from app.storage.db import Database
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository


class CountingBus:
    """The real local bus, counting what reaches it."""

    kind = "counting"

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.published: list[Any] = []

    def publish(self, hub: str, events: Any) -> Any:
        self.published.extend(events)
        return self.inner.publish(hub, events)


class CountingBroker(SimulatedBroker):
    def __init__(self) -> None:
        # shorting on: every intent a passing guard lets out can fill, sells included
        super().__init__(SimulatedBrokerConfig(allow_short=True))
        self.submitted: list[OrderEvent] = []

    def submit(self, intent: OrderEvent, *, market_price: Decimal) -> OrderEvent:
        self.submitted.append(intent)
        return super().submit(intent, market_price=market_price)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root: Path = tmp_path_factory.mktemp("router-props")
    # module scope runs before the per-test env isolation: pin every backend explicitly
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATA_DIR=root / "var",
        ARTIFACTS_DIR=root / "art",
        DATABASE_URL=f"sqlite:///{root / 'var' / 'router.db'}",
        BUS_URL=f"local://{root / 'var' / 'bus.db'}",
    )
    healthy = build_database(settings)
    healthy.upgrade()
    switched_on = Database(f"sqlite:///{root / 'on.db'}")
    switched_on.upgrade()
    KillSwitchRepository(switched_on).set(True, reason="property test", actor="tests")
    unmigrated = Database(f"sqlite:///{root / 'empty.db'}")
    bus = build_bus(settings)
    bus.provision()
    yield {
        "settings": settings,
        "dbs": {"off": healthy, "on": switched_on, "unmigrated": unmigrated},
        "bus": bus,
        "market_data": MarketData(settings, None),
    }
    bus.close()
    for db in (healthy, switched_on, unmigrated):
        db.dispose()


payloads = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAPL", "MSFT", "SPY"]),
        "start": st.sampled_from(["2025-01-02", "2025-06-02T00:00:00Z"]),
        "end": st.sampled_from(["2026-11-20", "2026-03-02"]),
        "strategy": st.sampled_from(["breakout", "momentum", "mean_reversion", "sma_cross"]),
        "offline_mode": st.just(True),
        "publish_orders": st.booleans(),
        "execute_orders": st.booleans(),
        "kill_switch_active": st.booleans(),
        "kill_switch_notional": st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e6)),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=payloads,
    switch=st.sampled_from(["off", "on", "unmigrated"]),
    configured_notional=st.one_of(st.none(), st.floats(min_value=1, max_value=1e6), st.just(math.nan)),
)
@example(
    payload={
        "symbol": "AAPL",
        "start": "2025-01-02",
        "end": "2026-11-20",
        "strategy": "breakout",
        "offline_mode": True,
        "publish_orders": True,
        "execute_orders": False,
    },
    switch="unmigrated",
    configured_notional=1.0,
)
def test_no_tripped_or_undecidable_guard_yields_an_order(
    world: dict[str, Any], payload: dict[str, Any], switch: str, configured_notional: float | None
) -> None:
    bus = CountingBus(world["bus"])
    broker = CountingBroker()
    context = RouterContext(
        settings=world["settings"],
        market_data=world["market_data"],
        guard=OrderGuard(GuardRepository(world["dbs"][switch]), GuardLimits(notional=configured_notional)),
        risk=build_router_risk_config(world["settings"]),
        bus=lambda: bus,  # type: ignore[arg-type, return-value]
        broker=lambda: broker,
    )
    request = RouterRunRequest.model_validate(payload)
    result = run_router(request, context)

    assert result.guard is not None
    limits = [x for x in (request.kill_switch_notional, configured_notional) if x is not None]
    notional = result.notional or 0.0
    should_trip = (
        request.kill_switch_active
        or switch != "off"
        or any(not math.isfinite(x) for x in limits)
        or any(notional > x for x in limits)
    )
    if should_trip or not result.guard.allowed:
        assert not result.guard.allowed and should_trip
        assert result.fallback_reason is not None and result.fallback_reason.startswith("kill_switch_")
        assert not result.published and not result.executed
        assert bus.published == [] and broker.submitted == []
        assert "order:published" not in result.events and "order:executed" not in result.events
    else:
        assert result.guard.allowed
        assert result.published == (request.publish_orders and result.intent is not None)
        assert result.executed == (request.execute_orders and result.intent is not None)
    if switch == "unmigrated" and not request.kill_switch_active:
        # an unreadable book refuses; a notional limit the order breaks may name itself first
        # (it is checked without the database), but the order is refused either way
        over_notional = any(not math.isfinite(x) for x in limits) or any(notional > x for x in limits)
        expected = (
            {"kill_switch_unavailable", "kill_switch_notional"}
            if over_notional
            else {"kill_switch_unavailable"}
        )
        assert result.fallback_reason in expected
