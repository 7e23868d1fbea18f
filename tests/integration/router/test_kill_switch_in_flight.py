"""The kill switch also stops a run that is already past its guard."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from app.bootstrap import Container
from app.bus.envelope import Envelope
from app.bus.ports import Bus, PublishReceipt
from app.config import Settings
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE
from app.execution.ports import Broker
from app.risk.guard import GuardDecision, GuardRequest, OrderGuard
from app.router.graph import run_router
from app.router.schemas import RouterRunRequest
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


def _container(make_settings: Callable[..., Settings]) -> Container:
    # a fresh paper account holds nothing: shorting on, so the breakout's sell can fill
    container = Container(make_settings(SIM_ALLOW_SHORT=True))
    container.db.upgrade()
    return container


def test_switch_flipped_between_guard_and_publish_stops_the_run(
    make_settings: Callable[..., Settings],
) -> None:
    container = _container(make_settings)
    base = container.router.context
    guard = _FlipAfterGuard(GuardRepository(container.db), base.guard._limits)
    bus = _FlipAfterIntent(container.bus, guard)
    broker = _CountingBroker(base.broker())
    context = dataclasses.replace(base, guard=guard, bus=lambda: bus, broker=lambda: broker)
    result = run_router(RouterRunRequest.model_validate(REQUEST), context)
    assert result.guard is not None and result.guard.allowed  # the guard itself had passed
    assert result.published is False and result.executed is False
    assert result.fallback_reason == "kill_switch_active"
    assert bus.published == [] and broker.submitted == 0
    assert container.bus.peek(container.settings.EH_HUB_ORDERS) == []  # type: ignore[attr-defined]
    assert guard.store.kill_switch.status().trips["kill_switch_active"] == 1  # type: ignore[attr-defined]
    container.close()


def test_switch_flipped_between_publish_and_submit_stops_the_broker(
    make_settings: Callable[..., Settings],
) -> None:
    container = _container(make_settings)
    base = container.router.context
    bus = _FlipAfterIntent(container.bus, base.guard)
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
    container.close()


def test_switch_left_off_lets_the_order_through(make_settings: Callable[..., Settings]) -> None:
    container = _container(make_settings)
    base = container.router.context
    broker = _CountingBroker(base.broker())
    context = dataclasses.replace(base, broker=lambda: broker)
    result = run_router(RouterRunRequest.model_validate(REQUEST), context)
    assert result.published is True and result.executed is True and broker.submitted == 1
    container.close()
