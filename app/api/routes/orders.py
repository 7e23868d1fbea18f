"""Order history: ``GET /orders``, ``GET /orders/{ref}`` and ``GET /fills``.

The dashboard reads these when it has no database connection of its own. Lists are newest
first with cursor pagination: pass the ``next_cursor`` of one page as ``cursor`` to get the
next. Money values are decimal strings, timestamps ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, PlainSerializer

from app.api.deps import OrderServiceDep
from app.domain.orders import OrderStatus
from app.errors import InputError
from app.storage.repositories.orders import MAX_PAGE_SIZE, FillView, OrderView
from app.validation import IsoDateTime

__all__ = ["router"]

router = APIRouter(tags=["orders"])


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


DecimalText = Annotated[Decimal, PlainSerializer(_plain, return_type=str, when_used="json")]


class FillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    client_order_id: str
    venue_fill_id: str
    symbol: str
    side: str
    qty: DecimalText
    price: DecimalText
    fee: DecimalText
    ts: datetime


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: DecimalText | None
    notional: DecimalText | None
    limit_price: DecimalText | None
    stop_price: DecimalText | None
    status: str
    filled_qty: DecimalText
    avg_fill_price: DecimalText | None
    strategy: str | None
    source_event_id: str | None
    created_at: datetime
    updated_at: datetime


class OrderWithFills(OrderOut):
    fills: list[FillOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class FillPage(BaseModel):
    items: list[FillOut]
    next_cursor: str | None


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InputError(f"{name}: needs a timezone, e.g. 2026-11-02T14:30:00Z (got {value.isoformat()})")
    return value


Limit = Annotated[
    int, Query(ge=1, description=f"Page size; values above {MAX_PAGE_SIZE} are capped to {MAX_PAGE_SIZE}.")
]
Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page.")]
Symbol = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9.\-/]+$")]
Since = Annotated[
    IsoDateTime | None, Query(description="Only rows at or after this time (ISO 8601, with a timezone).")
]


@router.get("/orders", response_model=OrderPage)
def list_orders(
    service: OrderServiceDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    symbol: Symbol = None,
    status: Annotated[OrderStatus | None, Query()] = None,
    since: Since = None,
) -> OrderPage:
    """Orders newest first; ``since`` compares with the time the order was first observed."""
    page = service.list_orders(
        limit=limit, cursor=cursor, symbol=symbol, status=status, since=_aware("since", since)
    )
    return OrderPage(items=[_order(o) for o in page.items], next_cursor=page.next_cursor)


@router.get("/orders/{ref}", response_model=OrderWithFills)
def get_order(
    service: OrderServiceDep,
    ref: Annotated[str, Path(min_length=1, max_length=128, description="Numeric id or client_order_id.")],
) -> OrderWithFills:
    """One order and its fills (oldest first)."""
    detail = service.get_order(ref)
    return OrderWithFills(
        **_order(detail.order).model_dump(), fills=[FillOut.model_validate(f) for f in detail.fills]
    )


@router.get("/fills", response_model=FillPage)
def list_fills(
    service: OrderServiceDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    symbol: Symbol = None,
    order_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    since: Since = None,
) -> FillPage:
    """Fills newest first; ``since`` compares with the execution time."""
    page = service.list_fills(
        limit=limit, cursor=cursor, symbol=symbol, order_id=order_id, since=_aware("since", since)
    )
    return FillPage(items=[_fill(f) for f in page.items], next_cursor=page.next_cursor)


def _order(view: OrderView) -> OrderOut:
    return OrderOut.model_validate(view)


def _fill(view: FillView) -> FillOut:
    return FillOut.model_validate(view)
