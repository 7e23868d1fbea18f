"""The router as a use case the API and CLI call: one context per process, one run per call."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from app.bus.ports import Bus
from app.config import Settings
from app.dal import MarketData
from app.domain.intervals import get_interval
from app.errors import AiTraderError, InputError
from app.execution.factory import create_broker
from app.execution.ports import Broker
from app.risk.guard import GuardLimits, OrderGuard
from app.risk.sizing import RiskConfig
from app.router.graph import compiled_graph, run_router
from app.router.offline import OfflineBars
from app.router.run_records import record_run
from app.router.schemas import RouterRunRequest, RouterRunResult
from app.router.state import RouterContext
from app.services.container import Services
from app.storage.repositories.guard import GuardRepository
from app.validation import check_date_range, estimate_bars

__all__ = ["RouterService", "check_router_window", "router_risk_config"]

log = logging.getLogger(__name__)


def check_router_window(request: RouterRunRequest, max_bars: int) -> int:
    """Refuse a window whose bar count (an upper estimate) is above ``max_bars``; return the estimate."""
    interval = get_interval(request.interval)
    check_date_range(request.start, request.window_end)
    bars = estimate_bars(interval.minutes, request.start, request.window_end)
    if bars > max_bars:
        days = max(1, max_bars // estimate_bars(interval.minutes, request.start, request.start))
        raise InputError(
            f"start: a {request.interval} window from {request.start.date()} holds up to {bars:,} bars; "
            f"the limit is {max_bars:,} bars (ROUTER_MAX_BARS), about {days:,} trading days of "
            f"{request.interval} bars"
        )
    return bars


def router_risk_config(settings: Settings) -> RiskConfig:
    """Fractional Kelly, regime-aware: how the live router sizes by default."""
    return RiskConfig.from_settings(settings, agent="fractional_kelly", regime_aware=True)


class RouterService:
    """Runs the router graph with the process's clients (database, bus, broker, market data)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._broker: Broker | None = None
        self._lock = threading.Lock()
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-run-record")
        compiled_graph()  # compile at start-up, not on the first request

    @cached_property
    def context(self) -> RouterContext:
        settings = self.services.settings
        market_data = MarketData.from_settings(settings, blob=self.services.blob)
        return RouterContext(
            settings=settings,
            market_data=market_data,
            offline_bars=OfflineBars(market_data, max_bytes=settings.ROUTER_BAR_CACHE_BYTES),
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
        """Run the graph once for ``request``.

        Raises:
            InputError: the window holds more bars than ``ROUTER_MAX_BARS`` (checked before
                any bar is fetched or built).
        """
        check_router_window(request, self.services.settings.ROUTER_MAX_BARS)
        result = run_router(request, self.context)
        if result.intent is not None:  # kept for the order's detail; off the request's path
            self._recorder.submit(self._record, result)
        return result

    def _record(self, result: RouterRunResult) -> None:
        try:
            record_run(self.services.blob, self.services.settings.BLOB_CONTAINER_DATA, result)
        except AiTraderError as exc:
            log.warning("router run %s not recorded: %s", result.run_id, exc, extra={"run_id": result.run_id})

    def close(self) -> None:
        self._recorder.shutdown(wait=True)
        if self._broker is not None:
            self._broker.close()
