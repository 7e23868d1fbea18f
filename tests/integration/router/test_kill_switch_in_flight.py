"""The kill switch also stops a run that is already past its guard."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from app.bus.envelope import Envelope
from app.bus.ports import Bus, PublishReceipt
from app.config import Settings
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE
from app.execution.ports import Broker
from app.risk.guard import GuardDecision, GuardRequest, OrderGuard
from app.router.graph import run_router
from app.router.schemas import RouterRunRequest
from app.router.service import RouterService
from app.services.container import Services
from app.storage.repositories.guard import GuardRepository

REQUEST = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "end": "2026-11-20T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": True,
}


class _FlipAfterGuard(OrderGuard):
    """The operator's ``kill-switch on`` lands right after this run's guard passed."""

    def check(self, request: GuardRequest, *, now: datetime | None = None) -> GuardDecision:
        decision = super().check(request, now=now)
        self.store.kill_switch.set(True, reason="incident", actor="operator")  # type: ignore[attr-defined]
        return decision


class _FlipAfterIntent:
    """A bus on which the switch is turned on right after the intent was published."""

    def __init__(self, bus: Bus, guard: OrderGuard) -> None:
        self._bus, self._guard = bus, guard
        self.published: list[Envelope] = []

    def publish(self, hub: str, events: Sequence[Envelope]) -> list[PublishReceipt]:
        receipts = self._bus.publish(hub, events)
        self.published += events
        if any(e.type == ORDER_EVENT_INTENT for e in events):
            self._guard.store.kill_switch.set(True, reason="incident", actor="operator")  # type: ignore[attr-defined]
        return receipts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


class _CountingBroker:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return self._broker.submit(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)


def _service(make_settings: Callable[..., Settings]) -> RouterService:
    # a fresh paper account holds nothing: shorting on, so the breakout's sell can fill
    services = Services(make_settings(SIM_ALLOW_SHORT=True))
    services.db.upgrade()
    return RouterService(services)


def test_switch_flipped_between_guard_and_publish_stops_the_run(
    make_settings: Callable[..., Settings],
) -> None:
    service = _service(make_settings)
    base = service.context
    guard = _FlipAfterGuard(GuardRepository(service.services.db), base.guard._limits)
    bus = _FlipAfterIntent(service.services.bus, guard)
    broker = _CountingBroker(base.broker())
    context = dataclasses.replace(base, guard=guard, bus=lambda: bus, broker=lambda: broker)
    result = run_router(RouterRunRequest.model_validate(REQUEST), context)
    assert result.guard is not None and result.guard.allowed  # the guard itself had passed
    assert result.published is False and result.executed is False
    assert result.fallback_reason == "kill_switch_active"
    assert bus.published == [] and broker.submitted == 0
    assert service.services.bus.peek(service.services.settings.EH_HUB_ORDERS) == []  # type: ignore[attr-defined]
    assert guard.store.kill_switch.status().trips["kill_switch_active"] == 1  # type: ignore[attr-defined]
    service.close()
    service.services.close()


def test_switch_flipped_between_publish_and_submit_stops_the_broker(
    make_settings: Callable[..., Settings],
) -> None:
    service = _service(make_settings)
    base = service.context
    bus = _FlipAfterIntent(service.services.bus, base.guard)
    broker = _CountingBroker(base.broker())
    context = dataclasses.replace(base, bus=lambda: bus, broker=lambda: broker)
    result = run_router(RouterRunRequest.model_validate(REQUEST), context)
    assert result.published is True and result.executed is False
    assert result.fallback_reason == "kill_switch_active"
    assert broker.submitted == 0
    # the published intent is closed by a rejected update, so it does not stay open
    assert [(e.type, e.payload["status"]) for e in bus.published] == [
        (ORDER_EVENT_INTENT, "new"),
        (ORDER_EVENT_UPDATE, "rejected"),
    ]
    service.close()
    service.services.close()


def test_switch_left_off_lets_the_order_through(make_settings: Callable[..., Settings]) -> None:
    service = _service(make_settings)
    base = service.context
    broker = _CountingBroker(base.broker())
    context = dataclasses.replace(base, broker=lambda: broker)
    result = run_router(RouterRunRequest.model_validate(REQUEST), context)
    assert result.published is True and result.executed is True and broker.submitted == 1
    service.close()
    service.services.close()
