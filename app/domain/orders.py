"""Orders and fills as they travel on ``exec.orders``.

One payload model, :class:`OrderEvent`, carries both the router's intent (status ``new``)
and every later broker report (status updates with ``fills[]``). Consumers upsert by
``client_order_id``; statuses only move forward (see :func:`status_rank`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

__all__ = [
    "ORDER_EVENT_INTENT",
    "ORDER_EVENT_UPDATE",
    "FillPayload",
    "OrderEvent",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "status_rank",
    "uncovered",
]

ORDER_EVENT_INTENT = "order.intent"
"""Bus event type: the router's sized, guarded order intent."""
ORDER_EVENT_UPDATE = "order.update"
"""Bus event type: a broker's status report, possibly with fills."""

PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
_RANK = {OrderStatus.NEW: 0, OrderStatus.ACCEPTED: 1, OrderStatus.PARTIALLY_FILLED: 2}


def status_rank(status: OrderStatus) -> int:
    """Order of the lifecycle: new < accepted < partially_filled < any terminal status.

    An update may replace the stored status only when its rank is strictly higher, so a late,
    older report never overwrites a newer one, and one terminal status never replaces another.
    """
    return _RANK.get(status, 3)


def uncovered(
    spans: Iterable[tuple[Decimal, Decimal]], low: Decimal, high: Decimal
) -> list[tuple[Decimal, Decimal]]:
    """The parts of the quantity interval ``(low, high]`` that no ``(start, end]`` of ``spans``
    covers, lowest first (empty when ``spans`` cover all of it)."""
    gaps: list[tuple[Decimal, Decimal]] = []
    reached = low
    for start, end in sorted(spans):
        if end <= reached:
            continue
        if start >= high:
            break
        if start > reached:
            gaps.append((reached, start))
        reached = end
        if reached >= high:
            break
    if reached < high:
        gaps.append((reached, high))
    return gaps


_OPTIONAL_FILL_FIELDS = ("cum_qty", "inferred", "order_avg_price")


class FillPayload(BaseModel):
    """One execution reported by a venue.

    ``cum_qty`` is the order's filled quantity right after this execution, when the venue
    says it (Alpaca does, on its stream and its activity feed). The execution then covers the
    order's shares ``(cum_qty - qty, cum_qty]``; the orders repository stores each share of an
    order once, whichever execution (or inference) reports it first. Fills without it (the
    simulated brokers) are told apart by ``venue_fill_id`` alone.

    ``inferred`` marks a fill a venue adapter derived from the order's totals rather than from
    a reported execution: the order had filled ``cum_qty`` at an average ``order_avg_price``,
    and this fill stands for whatever part of ``(0, cum_qty]`` no other fill covers (``qty``
    and ``price`` are the adapter's figures against the executions it saw; the repository
    recomputes both against what is stored).

    The three fields are left out of the serialised payload while unset, so the simulated
    brokers' payloads are unchanged.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    venue_fill_id: Annotated[str, Field(min_length=1, max_length=128)]
    qty: PositiveDecimal
    price: PositiveDecimal
    fee: NonNegativeDecimal = Decimal(0)
    ts: AwareDatetime
    cum_qty: PositiveDecimal | None = None
    inferred: bool = False
    order_avg_price: PositiveDecimal | None = None

    @model_validator(mode="after")
    def _cumulative(self) -> FillPayload:
        if self.cum_qty is not None and self.cum_qty < self.qty:
            raise ValueError(f"cum_qty {self.cum_qty} is below the fill's qty {self.qty}")
        if self.inferred and (self.cum_qty is None or self.order_avg_price is None):
            raise ValueError("an inferred fill needs cum_qty and order_avg_price")
        if not self.inferred and self.order_avg_price is not None:
            raise ValueError("order_avg_price belongs to inferred fills only")
        return self

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in _OPTIONAL_FILL_FIELDS:
            if data.get(name) in (None, False):
                data.pop(name, None)
        return data

    @property
    def span(self) -> tuple[Decimal, Decimal] | None:
        """The order's shares this execution covers, ``(start, end]``; ``None`` without ``cum_qty``."""
        return None if self.cum_qty is None else (self.cum_qty - self.qty, self.cum_qty)


class OrderEvent(BaseModel):
    """The ``exec.orders`` payload: an order's identity, sizing and current status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_order_id: Annotated[str, Field(min_length=1, max_length=128)]
    symbol: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9.\-/]+$")]
    side: OrderSide
    type: OrderType = OrderType.MARKET
    time_in_force: Annotated[str, Field(max_length=8)] = "day"
    qty: PositiveDecimal | None = None
    notional: PositiveDecimal | None = None
    limit_price: PositiveDecimal | None = None
    stop_price: PositiveDecimal | None = None
    status: OrderStatus = OrderStatus.NEW
    strategy: Annotated[str, Field(max_length=64)] | None = None
    broker_order_id: Annotated[str, Field(max_length=128)] | None = None
    prob: Annotated[float, Field(ge=0, le=1)] | None = None
    frac: Annotated[float, Field(ge=0, le=1)] | None = None
    run_id: str | None = None
    bar_time: AwareDatetime | None = None
    ts: AwareDatetime = Field(
        description="When this status was observed (intent time or broker report time)."
    )
    fills: list[FillPayload] = Field(default_factory=list)

    @field_validator("symbol", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper().strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _sized(self) -> OrderEvent:
        if self.qty is None and self.notional is None:
            raise ValueError("an order needs qty or notional")
        if self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and self.limit_price is None:
            raise ValueError(f"a {self.type} order needs limit_price")
        if self.type in (OrderType.STOP, OrderType.STOP_LIMIT) and self.stop_price is None:
            raise ValueError(f"a {self.type} order needs stop_price")
        fills = self.fills
        if len(fills) > 1 and len({f.venue_fill_id for f in fills}) != len(fills):
            raise ValueError("fills[] repeats a venue_fill_id")
        return self

    @property
    def observed_at(self) -> datetime:
        return self.ts
