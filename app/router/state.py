"""The router graph's typed state and the clients it runs with."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypedDict

import pandas as pd

from app.bus.ports import Bus
from app.config import Settings
from app.dal import MarketData
from app.decision.pipeline import DecisionFrame
from app.domain.orders import OrderEvent
from app.execution.ports import Broker
from app.models.selection import PriorModels
from app.portfolio.holdings import BookView, RouterBook
from app.risk.guard import GuardDecision, OrderGuard
from app.risk.sizing import RiskConfig
from app.router.offline import OfflineBars
from app.router.schemas import RouterRunRequest

__all__ = ["Action", "Clock", "RouterContext", "RouterState", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    prior_models: PriorModels | None = None
    """Resolves the request's ``prior_model``; ``None``: Beta priors only."""
    champion_params: Callable[[str], dict[str, Any] | None] | None = None
    """The champion parameter record of a strategy (``app.models.params``), or ``None``."""
    book: RouterBook | None = None
    """Reads the account's book for target-mode runs; ``None``: target runs fail closed
    (``book_unavailable``)."""
    account: str = "simulated"
    """The book's account: the configured broker's label (``app.execution.factory.broker_label``)."""
    clock: Clock = field(default=utc_now)
    """The run's clock: staleness, the bars' window and the intents' times follow it."""


class RouterState(TypedDict, total=False):
    """Everything a run knows; each node returns only the keys it sets."""

    request: RouterRunRequest
    run_id: str
    ingested: dict[str, Any]
    """The ingest step's keys when a routing pass read the bars before the run."""
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
    prior: dict[str, Any]
    position: float
    params: dict[str, Any]
    params_source: str
    notional: float | None
    intent: OrderEvent | None
    guard: GuardDecision
    published: bool
    executed: bool
    execution: OrderEvent | None
    fallback_reason: str | None
    decision_mode: str
    now: datetime
    client_order_id: str | None
    book_view: BookView | None
    equity: float | None
    equity_source: str | None
    marks: dict[str, float] | None
    price: Decimal
    target_qty: Decimal | None
    held_qty: Decimal | None
    pending_qty: Decimal | None
    order_qty: Decimal | None
    existing_order: dict[str, Any] | None
