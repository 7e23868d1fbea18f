"""The router's request and response, shared by ``POST /router/run`` and ``ai-trader router run``."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.domain.orders import OrderEvent
from app.errors import InputError
from app.validation import StrictFlag

__all__ = ["GuardView", "RouterRunRequest", "RouterRunResult"]

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,31}$")


def _as_utc(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return datetime.combine(date.fromisoformat(value.strip()), datetime.min.time(), tzinfo=UTC)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, datetime.min.time(), tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value  # pydantic reports the bad date, naming the field
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class RouterRunRequest(BaseModel):
    """One router run: which symbol and strategy, over which bars, and how far to go.

    ``start`` (and the optional ``end``, default now) bound the bars ingested; dates without
    a time mean UTC midnight. With ``offline_mode`` (a drill on synthetic bars) the intent
    follows the strategy's last position change inside that window; otherwise the router
    decides on the newest completed bar only and orders the difference between the strategy's
    target and what the account's book holds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    symbol: Annotated[str, Field(min_length=1, max_length=32, examples=["AAPL"])]
    start: datetime
    end: datetime | None = None
    strategy: Annotated[str, Field(min_length=1, max_length=64, examples=["breakout"])]
    offline_mode: StrictFlag = Field(default=False, description="Use synthetic bars (no vendor call).")
    publish_orders: StrictFlag = Field(default=False, description="Publish the intent on exec.orders.")
    execute_orders: StrictFlag = Field(default=False, description="Send the intent to the configured broker.")
    kill_switch_active: StrictFlag = Field(default=False, description="Refuse any order in this run.")
    kill_switch_notional: float | None = Field(
        default=None, gt=0, description="Refuse an intent whose notional is above this amount."
    )
    interval: str = Field(default="1Day", description="Bar interval (the DAL's names, e.g. 1Day, 1Hour).")
    params: dict[str, Any] | None = Field(
        default=None,
        description="Strategy parameters; unset: the strategy's champion parameters, else its defaults.",
    )
    prior_model: str = Field(
        default="promoted",
        min_length=1,
        max_length=80,
        description="'promoted' (champion model, Beta when none), 'beta' or a model version.",
    )

    @field_validator("prior_model")
    @classmethod
    def _prior_model(cls, value: str) -> str:
        from app.models.selection import check_prior_model

        try:
            return check_prior_model(value)
        except InputError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        clean = value.strip().upper()
        if not _SYMBOL.match(clean):
            raise ValueError("a ticker of 1-32 letters, digits, '.', '-' or '/'")
        return clean

    @field_validator("start", "end", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        return _as_utc(value)

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        from app.strategies import STRATEGIES

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r} (known: {', '.join(sorted(STRATEGIES))})")
        return value

    @field_validator("kill_switch_notional")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite amount")
        return value

    @field_validator("start")
    @classmethod
    def _not_future(cls, value: datetime) -> datetime:
        if value > datetime.now(UTC):
            raise ValueError("start is in the future")
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if value is not None and isinstance(start, datetime) and value <= start:
            raise ValueError("end must be after start")
        return value

    @property
    def window_end(self) -> datetime:
        """``end``, or now when ``end`` is unset or later than now (no bar from the future)."""
        now = datetime.now(UTC)
        return now if self.end is None or self.end > now else self.end


class GuardView(BaseModel):
    """The guard's decision; ``limit_use`` is each enforced limit's use after the order (1.0 =
    at the limit), ``limit_warnings`` the limits at 80 % or more."""

    allowed: bool
    reason: str | None
    detail: str
    limit_use: dict[str, float] = Field(default_factory=dict)
    limit_warnings: list[str] = Field(default_factory=list)


class RouterRunResult(BaseModel):
    """What one run did: events in order, the intent, sizing, where it went and why not."""

    run_id: str
    symbol: str
    strategy: str
    vendor: str | None
    bars: int
    latest_bar_time: datetime | None
    signal_bar_time: datetime | None
    regime: str | None
    params: dict[str, Any] = Field(default_factory=dict, description="The strategy parameters used.")
    params_source: str | None = Field(
        default=None, description="Where they came from: request, champion or default."
    )
    position: float | None = Field(
        default=None, description="The strategy's side (-1, 0, +1) on the bar the priors were read at."
    )
    prior: dict[str, Any] | None = Field(
        default=None, description="The win probabilities used: requested, source (beta/model), version."
    )
    events: list[str]
    intent: OrderEvent | None
    prob: float | None
    payoff: float | None
    frac: float | None
    notional: float | None
    guard: GuardView | None
    published: bool
    executed: bool
    execution: OrderEvent | None
    fallback_reason: str | None
    timings_ms: dict[str, float]
    total_ms: float
    decision_mode: str | None = Field(
        default=None,
        description="'drill' (offline_mode: acts on the strategy's last change in the window, as a "
        "rehearsal) or 'target' (the newest completed bar's target against the book).",
    )
    equity: float | None = Field(
        default=None, description="Target mode: the account equity the target was sized from."
    )
    equity_source: str | None = Field(
        default=None, description="Where the equity came from: 'broker' (get_account) or 'book' (marked)."
    )
    target_qty: float | None = Field(
        default=None, description="Target mode: shares the strategy wants held (negative: short)."
    )
    held_qty: float | None = Field(default=None, description="Target mode: shares the book holds now.")
    pending_qty: float | None = Field(
        default=None, description="Target mode: shares still to come from working or admitted orders."
    )
    order_qty: float | None = Field(
        default=None,
        description="Target mode: the signed order (buy positive) after the band and the exit clamp; "
        "0 when nothing is traded.",
    )
    existing_order: dict[str, Any] | None = Field(
        default=None,
        description="The order already known under this run's client_order_id (a duplicate): "
        "client_order_id, status, source (orders, reservation or broker), side.",
    )
