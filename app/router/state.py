"""The router graph's typed state and the clients it runs with."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypedDict

import pandas as pd

from app.bus.ports import Bus
from app.config import Settings
from app.dal import MarketData
from app.decision.pipeline import DecisionFrame
from app.domain.orders import OrderEvent
from app.execution.ports import Broker
from app.risk.guard import GuardDecision, OrderGuard
from app.risk.sizing import RiskConfig
from app.router.offline import OfflineBars
from app.router.schemas import RouterRunRequest

__all__ = ["Action", "RouterContext", "RouterState"]


def _merge_timings(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    return {**left, **right}


@dataclass(frozen=True, slots=True)
class Action:
    """The order the strategy's last position change in the window calls for.

    ``bar`` is the index of the change; ``entry_bar`` the bar the closed position was
    opened on (exits and reversals), used to value the position being closed.
    """

    bar: int
    side: int  # +1 buy, -1 sell
    new_position: float
    old_position: float
    entry_bar: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterContext:
    """Long-lived clients one router run uses; built once per process by the service.

    ``bus`` and ``broker`` are factories so a run that neither publishes nor executes never
    connects to them, and so a missing broker setting surfaces as that run's fallback reason.
    """

    settings: Settings
    market_data: MarketData
    guard: OrderGuard
    risk: RiskConfig
    bus: Callable[[], Bus]
    broker: Callable[[], Broker]
    offline_bars: OfflineBars | None = None


class RouterState(TypedDict, total=False):
    """Everything a run knows; each node returns only the keys it sets."""

    request: RouterRunRequest
    run_id: str
    events: Annotated[list[str], operator.add]
    timings_ms: Annotated[dict[str, float], _merge_timings]
    vendor: str
    bars: pd.DataFrame
    signals: pd.DataFrame
    regimes: pd.DataFrame
    decisions: DecisionFrame
    action: Action | None
    prob: float | None
    payoff: float | None
    frac: float | None
    regime: str | None
    notional: float | None
    intent: OrderEvent | None
    guard: GuardDecision
    published: bool
    executed: bool
    execution: OrderEvent | None
    fallback_reason: str | None
