"""The router as a use case the API and CLI call: one context per process, one run per call."""

from __future__ import annotations

import threading
from functools import cached_property

from app.bus.ports import Bus
from app.config import Settings
from app.dal import MarketData
from app.execution.factory import create_broker
from app.execution.ports import Broker
from app.risk.guard import GuardLimits, OrderGuard
from app.risk.sizing import RiskConfig
from app.router.graph import compiled_graph, run_router
from app.router.offline import OfflineBars
from app.router.schemas import RouterRunRequest, RouterRunResult
from app.router.state import RouterContext
from app.services.container import Services
from app.storage.repositories.guard import GuardRepository

__all__ = ["RouterService", "router_risk_config"]


def router_risk_config(settings: Settings) -> RiskConfig:
    """Fractional Kelly, regime-aware: how the live router sizes by default."""
    return RiskConfig.from_settings(settings, agent="fractional_kelly", regime_aware=True)


class RouterService:
    """Runs the router graph with the process's clients (database, bus, broker, market data)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._broker: Broker | None = None
        self._lock = threading.Lock()
        compiled_graph()  # compile at start-up, not on the first request

    @cached_property
    def context(self) -> RouterContext:
        settings = self.services.settings
        market_data = MarketData.from_settings(settings, blob=self.services.blob)
        return RouterContext(
            settings=settings,
            market_data=market_data,
            offline_bars=OfflineBars(market_data),
            guard=OrderGuard(GuardRepository(self.services.db), GuardLimits.from_settings(settings)),
            risk=router_risk_config(settings),
            bus=self._bus,
            broker=self._get_broker,
        )

    def _bus(self) -> Bus:
        return self.services.bus

    def _get_broker(self) -> Broker:
        with self._lock:
            if self._broker is None:
                self._broker = create_broker(self.services.settings)
            return self._broker

    def run(self, request: RouterRunRequest) -> RouterRunResult:
        """Run the graph once for ``request``."""
        return run_router(request, self.context)

    def close(self) -> None:
        if self._broker is not None:
            self._broker.close()
