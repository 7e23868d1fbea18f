"""Pure translation of Alpaca's trading JSON into domain types.

Orders and fill activities become ``OrderEvent`` reports; the account, positions and open
orders become the broker-view types of :mod:`app.domain.accounts`. Alpaca sends quantities
and money as strings (``"qty": "-24"``); a short position has a negative ``qty``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from app.domain.accounts import BrokerAccount, BrokerPosition, OpenOrder
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus, OrderType, uncovered
from app.errors import OrderRejected

__all__ = [
    "TradeUpdate",
    "fill_id",
    "infer_rest",
    "parse_account",
    "parse_fill_activities",
    "parse_open_order",
    "parse_order",
    "parse_position",
    "parse_status",
    "parse_trade_update",
    "parse_venue_order",
]

_STATUS = {
    "new": OrderStatus.NEW,
    "pending_new": OrderStatus.NEW,
    "accepted": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "calculated": OrderStatus.ACCEPTED,
    "pending_cancel": OrderStatus.ACCEPTED,
    "pending_replace": OrderStatus.ACCEPTED,
    "stopped": OrderStatus.ACCEPTED,
    "suspended": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "done_for_day": OrderStatus.EXPIRED,
    "expired": OrderStatus.EXPIRED,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def parse_status(raw: str) -> OrderStatus:
    try:
        return _STATUS[raw]
    except KeyError:
        raise OrderRejected("broker_protocol", f"unknown Alpaca order status {raw!r}") from None


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise OrderRejected("broker_protocol", f"Alpaca sent a non-numeric amount {value!r}") from None
    if not number.is_finite():
        raise OrderRejected("broker_protocol", f"Alpaca sent a non-finite amount {value!r}")
    return number if number > 0 else None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def fill_id(order_id: str, cumulative_qty: Decimal) -> str:
    """The id of the execution that brought ``order_id``'s filled quantity to ``cumulative_qty``.

    Alpaca reports one execution three ways: a ``fill``/``partial_fill`` stream frame (its
    ``order.filled_qty``), a FILL activity (``cum_qty``) and, summed up, the order itself
    (``filled_qty``). Their own ids differ (``execution_id`` against the activity ``id``), but
    the cumulative quantity after the execution is the same in all three and grows with every
    execution of the order, so ``<order id>:<cumulative qty>`` names the execution whichever
    way it arrived, and the fills table stores it once.
    """
    return f"{order_id}:{cumulative_qty.normalize():f}"


def parse_fill_activities(activities: Iterable[Mapping[str, Any]], order_id: str) -> list[FillPayload]:
    """Fills of one order from ``GET /v2/account/activities/FILL`` rows (other orders ignored).

    Each fill's ``venue_fill_id`` is :func:`fill_id` of the row's ``cum_qty`` (the row's own
    ``id`` when Alpaca sent no ``cum_qty``).
    """
    fills: list[FillPayload] = []
    for row in activities:
        if row.get("order_id") != order_id or row.get("activity_type", "FILL") != "FILL":
            continue
        qty, price, ts = (
            _decimal(row.get("qty")),
            _decimal(row.get("price")),
            _time(row.get("transaction_time")),
        )
        if qty is None or price is None or ts is None:
            raise OrderRejected("broker_protocol", f"Alpaca fill {row.get('id')!r} lacks qty, price or time")
        cumulative = _decimal(row.get("cum_qty"))
        venue_id = fill_id(order_id, cumulative) if cumulative is not None else str(row["id"])
        try:
            fill = FillPayload(venue_fill_id=venue_id, qty=qty, price=price, ts=ts, cum_qty=cumulative)
        except ValidationError as exc:
            raise OrderRejected("broker_protocol", f"Alpaca fill {row.get('id')!r}: {exc}") from None
        fills.append(fill)
    fills.sort(key=lambda f: f.ts)
    return fills


_PRICE_STEP = Decimal("0.000001")


def infer_rest(
    order_id: str, fills: list[FillPayload], filled: Decimal, average: Decimal, at: datetime
) -> FillPayload | None:
    """One inferred fill for the part of the order's ``filled`` quantity that ``fills`` do not
    cover; ``None`` when they cover all of it.

    With every fill's ``cum_qty`` known the gaps are the uncovered parts of ``(0, filled]``
    (an execution missing in the middle of the feed counts, not only after its newest row);
    the fill is named by :func:`fill_id` of the highest gap's end, which is the cumulative
    quantity of the newest missing execution. Without them, by the quantity the fills sum
    to. It is priced so the order's value is ``filled * average`` (the orders repository
    recomputes quantity and price against what it has stored: see
    :class:`~app.domain.orders.FillPayload`).

    Raises:
        OrderRejected: (reason ``broker_protocol``) the fills are worth more than the order.
    """
    spans = [f.span for f in fills]
    if fills and all(span is not None for span in spans):
        gaps = uncovered([s for s in spans if s is not None], Decimal(0), filled)
        rest = sum((end - start for start, end in gaps), Decimal(0))
        venue_id = fill_id(order_id, gaps[-1][1]) if gaps else ""
        within = [f for f in fills if f.cum_qty is not None and f.cum_qty <= filled]
    else:
        rest = filled - sum((f.qty for f in fills), Decimal(0))
        venue_id = fill_id(order_id, filled)
        within = fills
    if rest <= 0:
        return None
    value = filled * average - sum((f.qty * f.price for f in within), Decimal(0))
    price = (value / rest).quantize(_PRICE_STEP)
    if price <= 0:
        raise OrderRejected("broker_protocol", f"Alpaca order {order_id}: fills disagree with its average")
    return FillPayload(
        venue_fill_id=venue_id,
        qty=rest,
        price=price,
        ts=at,
        cum_qty=filled,
        inferred=True,
        order_avg_price=average,
    )


def parse_order(raw: Mapping[str, Any], intent: OrderEvent, fills: list[FillPayload]) -> OrderEvent:
    """Alpaca's order JSON as an ``OrderEvent`` report carrying the intent's run metadata.

    When Alpaca reports filled quantity but the activity feed has no rows yet, one fill is
    inferred from ``filled_qty`` and ``filled_avg_price`` (:func:`infer_rest`: id
    :func:`fill_id` of ``filled_qty``).
    """
    if raw.get("client_order_id") != intent.client_order_id:
        raise OrderRejected(
            "broker_protocol",
            f"Alpaca answered for client_order_id {raw.get('client_order_id')!r}, "
            f"expected {intent.client_order_id!r}",
        )
    status = parse_status(str(raw.get("status", "")))
    order_id = str(raw["id"])
    filled_qty, avg_price = _decimal(raw.get("filled_qty")), _decimal(raw.get("filled_avg_price"))
    if not fills and filled_qty is not None and avg_price is not None:
        ts = _time(raw.get("filled_at")) or _time(raw.get("updated_at")) or datetime.now(UTC)
        inferred = infer_rest(order_id, [], filled_qty, avg_price, ts)
        fills = [] if inferred is None else [inferred]
    observed = _time(raw.get("updated_at")) or _time(raw.get("submitted_at")) or datetime.now(UTC)
    return OrderEvent(
        client_order_id=intent.client_order_id,
        symbol=str(raw.get("symbol") or intent.symbol),
        side=OrderSide(str(raw.get("side", intent.side.value))),
        type=OrderType(str(raw.get("type") or raw.get("order_type") or intent.type.value)),
        time_in_force=str(raw.get("time_in_force") or intent.time_in_force),
        qty=_decimal(raw.get("qty")),
        notional=_decimal(raw.get("notional")) if _decimal(raw.get("qty")) is None else None,
        limit_price=_decimal(raw.get("limit_price")),
        stop_price=_decimal(raw.get("stop_price")),
        status=status,
        strategy=intent.strategy,
        broker_order_id=order_id,
        prob=intent.prob,
        frac=intent.frac,
        run_id=intent.run_id,
        bar_time=intent.bar_time,
        ts=observed,
        fills=fills,
    )


def _amount(raw: Mapping[str, Any], key: str, *, required: bool = True) -> Decimal | None:
    """A signed decimal field (zero and negatives allowed); ``None`` when absent and optional."""
    value = raw.get(key)
    if value in (None, ""):
        if required:
            raise OrderRejected("broker_protocol", f"Alpaca sent no {key!r}")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise OrderRejected("broker_protocol", f"Alpaca sent a non-numeric {key} {value!r}") from None
    if not number.is_finite():
        raise OrderRejected("broker_protocol", f"Alpaca sent a non-finite {key} {value!r}")
    return number


def _required(raw: Mapping[str, Any], key: str) -> Decimal:
    value = _amount(raw, key)
    assert value is not None  # _amount raises for a missing required field
    return value


def parse_account(raw: Mapping[str, Any]) -> BrokerAccount:
    """``GET /v2/account``: balances as the account reports them."""
    return BrokerAccount(
        account_id=str(raw.get("account_number") or raw.get("id") or ""),
        cash=_required(raw, "cash"),
        equity=_required(raw, "equity"),
        buying_power=_required(raw, "buying_power"),
        long_market_value=_amount(raw, "long_market_value", required=False) or Decimal(0),
        short_market_value=_amount(raw, "short_market_value", required=False) or Decimal(0),
        last_equity=_amount(raw, "last_equity", required=False),
        currency=str(raw.get("currency") or "USD"),
        status=str(raw.get("status") or ""),
        shorting_enabled=bool(raw.get("shorting_enabled")),
        trading_blocked=bool(raw.get("trading_blocked") or raw.get("account_blocked")),
    )


def parse_position(raw: Mapping[str, Any]) -> BrokerPosition:
    """One ``GET /v2/positions`` item; the quantity is negative for a short."""
    quantity = _required(raw, "qty")
    if raw.get("side") == "short" and quantity > 0:
        quantity = -quantity
    if not raw.get("symbol"):
        raise OrderRejected("broker_protocol", "Alpaca sent a position without a symbol")
    return BrokerPosition(
        symbol=str(raw["symbol"]),
        quantity=quantity,
        average_entry_price=abs(_required(raw, "avg_entry_price")),
        current_price=_amount(raw, "current_price", required=False),
        market_value=_amount(raw, "market_value", required=False),
        unrealized_pl=_amount(raw, "unrealized_pl", required=False),
    )


def parse_open_order(raw: Mapping[str, Any]) -> OpenOrder | None:
    """One ``GET /v2/orders?status=open`` item; ``None`` when its status is already final."""
    status = parse_status(str(raw.get("status", "")))
    if status.is_terminal:
        return None
    submitted = _time(raw.get("submitted_at")) or _time(raw.get("created_at"))
    if submitted is None or not raw.get("id") or not raw.get("symbol"):
        raise OrderRejected("broker_protocol", f"Alpaca order {raw.get('id')!r} lacks an id, symbol or time")
    try:
        side = OrderSide(str(raw.get("side")))
    except ValueError:
        raise OrderRejected("broker_protocol", f"Alpaca order side {raw.get('side')!r} is unknown") from None
    return OpenOrder(
        client_order_id=str(raw.get("client_order_id") or raw["id"]),
        broker_order_id=str(raw["id"]),
        symbol=str(raw["symbol"]),
        side=side,
        type=str(raw.get("type") or raw.get("order_type") or ""),
        status=status,
        qty=_decimal(raw.get("qty")),
        notional=_decimal(raw.get("notional")),
        filled_qty=_amount(raw, "filled_qty", required=False) or Decimal(0),
        submitted_at=submitted,
        limit_price=_decimal(raw.get("limit_price")),
        time_in_force=str(raw.get("time_in_force") or ""),
    )


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """One ``trade_updates`` stream event: the order as it now stands at Alpaca.

    ``order.fills`` holds only this event's execution (``fill`` and ``partial_fill`` events;
    ``venue_fill_id`` is :func:`fill_id` of the order's cumulative ``filled_qty`` after it,
    which is also its ``cum_qty``);
    ``order.status`` is the order's status after the event. ``execution_id`` is the frame's
    own id of the execution (``None`` for events without one). ``position_qty`` is the
    account's position in the symbol after it.
    """

    event: str
    at: datetime
    order: OrderEvent
    position_qty: Decimal | None
    execution_id: str | None = None


def parse_trade_update(frame: Mapping[str, Any]) -> TradeUpdate | None:
    """A ``{"stream": "trade_updates", "data": {...}}`` frame; ``None`` for other streams.

    Raises:
        OrderRejected: (reason ``broker_protocol``) the frame lacks its order, time or, for a
            fill, the execution's id, price or quantity, or names an order type ai-trader
            does not track.
    """
    if frame.get("stream") != "trade_updates":
        return None
    data = frame.get("data")
    order = data.get("order") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(order, Mapping):
        raise OrderRejected("broker_protocol", "a trade_updates frame without data.order")
    event = str(data.get("event") or "")
    at = _time(data.get("timestamp")) or _time(order.get("updated_at"))
    if not event or at is None or not order.get("id") or not order.get("client_order_id"):
        raise OrderRejected(
            "broker_protocol", f"trade_updates frame lacks event, time or order ids: {event!r}"
        )
    fills: list[FillPayload] = []
    if event in ("fill", "partial_fill"):
        qty, price = _decimal(data.get("qty")), _decimal(data.get("price"))
        cumulative = _decimal(order.get("filled_qty"))
        if qty is None or price is None or cumulative is None or not data.get("execution_id"):
            raise OrderRejected(
                "broker_protocol",
                f"{event} frame of {order['id']} lacks execution_id, qty, price or order.filled_qty",
            )
        venue_id = fill_id(str(order["id"]), cumulative)
        try:
            fills = [FillPayload(venue_fill_id=venue_id, qty=qty, price=price, ts=at, cum_qty=cumulative)]
        except ValidationError as exc:
            raise OrderRejected("broker_protocol", f"{event} frame of {order['id']}: {exc}") from None
    raw_type = str(order.get("type") or order.get("order_type") or "")
    try:
        order_type, side = OrderType(raw_type), OrderSide(str(order.get("side")))
    except ValueError:
        raise OrderRejected(
            "broker_protocol",
            f"order {order['id']}: type {raw_type!r} / side {order.get('side')!r} not tracked",
        ) from None
    quantity = _decimal(order.get("qty"))
    try:
        report = _update_event(order, order_type, side, quantity, at, fills)
    except ValidationError as exc:
        raise OrderRejected("broker_protocol", f"order {order['id']} in a {event} frame: {exc}") from None
    position = data.get("position_qty")
    return TradeUpdate(
        event=event,
        at=at,
        order=report,
        position_qty=_amount(data, "position_qty", required=False) if position is not None else None,
        execution_id=str(data["execution_id"]) if data.get("execution_id") else None,
    )


def parse_venue_order(raw: Mapping[str, Any], fills: list[FillPayload]) -> OrderEvent:
    """An order as ``GET /v2/orders`` lists it, with the given fills, as an update report.

    Unlike :func:`parse_order` this needs no intent: the order may have been placed by another
    process, or outside ai-trader. ``ts`` is the order's ``updated_at``.

    Raises:
        OrderRejected: (reason ``broker_protocol``) the order lacks its ids or time, or has a
            type, side or status ai-trader does not track.
    """
    at = _time(raw.get("updated_at")) or _time(raw.get("submitted_at")) or _time(raw.get("created_at"))
    if at is None or not raw.get("id") or not raw.get("client_order_id"):
        raise OrderRejected("broker_protocol", f"Alpaca order {raw.get('id')!r} lacks its ids or times")
    raw_type = str(raw.get("type") or raw.get("order_type") or "")
    try:
        order_type, side = OrderType(raw_type), OrderSide(str(raw.get("side")))
    except ValueError:
        raise OrderRejected(
            "broker_protocol", f"order {raw['id']}: type {raw_type!r} / side {raw.get('side')!r} not tracked"
        ) from None
    try:
        return _update_event(raw, order_type, side, _decimal(raw.get("qty")), at, fills)
    except ValidationError as exc:
        raise OrderRejected("broker_protocol", f"order {raw['id']}: {exc}") from None


def _update_event(
    order: Mapping[str, Any],
    order_type: OrderType,
    side: OrderSide,
    quantity: Decimal | None,
    at: datetime,
    fills: list[FillPayload],
) -> OrderEvent:
    return OrderEvent(
        client_order_id=str(order["client_order_id"]),
        symbol=str(order.get("symbol") or ""),
        side=side,
        type=order_type,
        time_in_force=str(order.get("time_in_force") or "day"),
        qty=quantity,
        notional=_decimal(order.get("notional")) if quantity is None else None,
        limit_price=_decimal(order.get("limit_price")),
        stop_price=_decimal(order.get("stop_price")),
        status=parse_status(str(order.get("status", ""))),
        broker_order_id=str(order["id"]),
        ts=at,
        fills=fills,
    )
