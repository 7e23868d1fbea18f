"""``POST /orders/{ref}/cancel`` and ``GET /orders/{ref}/run``: act on one order, and its router run.

Only an order the history shows as working (``new``, ``accepted``, ``partially_filled``) can be
cancelled; any other is a 409 naming its status. The cancel goes to the configured broker
through the execution port; the broker's report (``canceled``, or the final status the order
reached first) is recorded in the order history at once and returned.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.api.deps import ContainerDep
from app.api.routes.orders import FillOut, OrderWithFills, _order
from app.bootstrap import Container
from app.domain.orders import OrderEvent, OrderSide, OrderStatus, OrderType
from app.errors import NotFoundError, OrderRejected
from app.router.run_records import read_order_run
from app.storage.repositories.orders import OrderDetail, SourcedOrderEvent

__all__ = ["CancelRequest", "RouterRunRecord", "router"]

log = logging.getLogger("app.api.orders")

router = APIRouter(tags=["orders"])

WORKING = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


class CancelRequest(BaseModel):
    """Body of ``POST /orders/{ref}/cancel``: why, and who asks."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=500)]
    actor: Annotated[str, Field(min_length=1, max_length=128)] = "api"


def _as_event(detail: OrderDetail) -> OrderEvent:
    order = detail.order
    return OrderEvent(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=OrderSide(order.side),
        type=OrderType(order.type),
        time_in_force=order.time_in_force,
        qty=order.qty,
        notional=order.notional,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        status=OrderStatus(order.status),
        strategy=order.strategy,
        broker_order_id=order.broker_order_id,
        ts=order.updated_at if order.updated_at.tzinfo else order.updated_at.replace(tzinfo=UTC),
    )


def cancel_order(services: Container, ref: str, body: CancelRequest) -> OrderWithFills:
    orders = services.orders
    detail = orders.get_order(ref)
    status = OrderStatus(detail.order.status)
    if status not in WORKING:
        raise OrderRejected(
            "not_cancellable",
            f"order {detail.order.id} is {status}; "
            "only new, accepted or partially filled orders can be cancelled",
        )
    report = services.broker.cancel(_as_event(detail))
    orders.apply([SourcedOrderEvent(event=report, event_id=f"cancel-{uuid.uuid4().hex}")])
    log.warning(
        "order cancel requested",
        extra={
            "order_id": detail.order.id,
            "client_order_id": detail.order.client_order_id,
            "actor": body.actor,
            "reason": body.reason,
            "result": str(report.status),
        },
    )
    current = orders.get_order(str(detail.order.id))
    return OrderWithFills(
        **_order(current.order).model_dump(), fills=[FillOut.model_validate(f) for f in current.fills]
    )


@router.post("/orders/{ref}/cancel")
async def cancel(
    container: ContainerDep,
    body: CancelRequest,
    ref: Annotated[str, Path(min_length=1, max_length=128, description="Numeric id or client_order_id.")],
) -> OrderWithFills:
    """Cancel a working order at the broker; the order as recorded afterwards (with its fills)."""
    return await run_in_threadpool(cancel_order, container, ref, body)


class RouterRunRecord(BaseModel):
    """The newest router run that moved an order: its events in order, guard verdict, timings."""

    run_id: str
    client_order_id: str | None
    symbol: str
    strategy: str
    vendor: str | None = None
    bars: int | None = None
    signal_bar_time: str | None = None
    regime: str | None = None
    events: list[str]
    prob: float | None = None
    frac: float | None = None
    notional: float | None = None
    guard: dict[str, Any] | None = None
    published: bool
    executed: bool
    fallback_reason: str | None = None
    total_ms: float | None = None
    recorded_at: str


def order_run(services: Container, ref: str) -> RouterRunRecord:
    detail = services.orders.get_order(ref)
    found = read_order_run(services.blob, services.settings.BLOB_CONTAINER_DATA, detail.order.client_order_id)
    if found is None:
        raise NotFoundError(f"no router run is recorded for order {detail.order.id}")
    return RouterRunRecord.model_validate(found)


@router.get("/orders/{ref}/run")
async def get_order_run(
    container: ContainerDep,
    ref: Annotated[str, Path(min_length=1, max_length=128, description="Numeric id or client_order_id.")],
) -> RouterRunRecord:
    """The router run that produced (or last executed) the order, as recorded by the router."""
    return await run_in_threadpool(order_run, container, ref)
