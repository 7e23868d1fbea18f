"""A router context on real embedded backends: SQLite, the local bus log, the simulated broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from app.bootstrap import build_bus, build_database, build_guard_limits, build_router_risk_config
from app.bus.envelope import Envelope
from app.bus.ports import Bus
from app.config import Settings
from app.dal import MarketData
from app.execution.ports import Broker
from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig
from app.risk.guard import OrderGuard
from app.router.offline import OfflineBars
from app.router.state import RouterContext
from app.storage.db import Database
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.router_book import RouterBookRepository


@dataclass
class RouterRig:
    settings: Settings
    db: Database
    bus: Bus
    broker: SimulatedBroker
    context: RouterContext

    def with_context(self, **changes: Any) -> RouterContext:
        return replace(self.context, **changes)

    def orders_on_bus(self) -> list[Envelope]:
        """Everything on exec.orders so far (read without checkpointing)."""
        consumer = self.bus.consumer(self.settings.EH_HUB_ORDERS, "diagnostics")
        try:
            delivered = consumer.poll(max_events=1000, timeout_s=0.05)
        finally:
            consumer.close()
        return [d.envelope for d in delivered if d.envelope is not None]


@pytest.fixture
def rig(make_settings: Callable[..., Settings]) -> Iterator[RouterRig]:
    settings = make_settings()
    db = build_database(settings)
    db.upgrade()
    bus = build_bus(settings)
    bus.provision()
    # shorting on, so the spec payload's sell intent fills on a fresh paper account
    broker = SimulatedBroker(SimulatedBrokerConfig(slippage_bps=5, commission_bps=1, allow_short=True))
    broker_factory: Callable[[], Broker] = lambda: broker  # noqa: E731
    context = RouterContext(
        settings=settings,
        market_data=MarketData(settings, None),
        offline_bars=OfflineBars(MarketData(settings, None)),
        guard=OrderGuard(GuardRepository(db), build_guard_limits(settings)),
        risk=build_router_risk_config(settings),
        bus=lambda: bus,
        broker=broker_factory,
        book=RouterBookRepository(db),
        account="simulated",
    )
    rig = RouterRig(settings=settings, db=db, bus=bus, broker=broker, context=context)
    yield rig
    bus.close()
    db.dispose()
