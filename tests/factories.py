"""Builders for domain objects tests need often."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent

__all__ = ["filled_order", "record_filled_order"]


def filled_order(
    client_order_id: str = "AAPL-breakout-20250102",
    symbol: str = "AAPL",
    qty: str = "3",
    price: str = "185.5",
    ts: datetime = datetime(2025, 1, 2, 15, 0, tzinfo=UTC),
) -> OrderEvent:
    """A market buy filled in one execution (venue fill id ``<client_order_id>-f1``)."""
    return OrderEvent(
        client_order_id=client_order_id,
        symbol=symbol,
        side=OrderSide.BUY,
        qty=Decimal(qty),
        status=OrderStatus.FILLED,
        strategy="breakout",
        ts=ts,
        fills=[
            FillPayload(venue_fill_id=f"{client_order_id}-f1", qty=Decimal(qty), price=Decimal(price), ts=ts)
        ],
    )


def record_filled_order(db: Database, **kwargs: str) -> OrderEvent:
    """Store :func:`filled_order` through the order service, as the consumer would."""
    event = filled_order(**kwargs)  # type: ignore[arg-type]
    OrdersRepository(db).apply([SourcedOrderEvent(event=event, event_id=f"evt-{event.client_order_id}")])
    return event
