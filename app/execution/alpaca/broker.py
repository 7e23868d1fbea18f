"""Alpaca broker: market orders through alpaca-py's ``TradingClient``, deduped by client id.

Submitting first looks the ``client_order_id`` up (``GET /v2/orders:by_client_order_id``); only
when Alpaca does not know it is a new order placed. If two submits race, Alpaca refuses the
second with 422 "client_order_id must be unique" and the existing order is reported instead.
Fills come from the account activity feed (``GET /v2/account/activities/FILL``).

For reconciliation it reads ``GET /v2/account``, ``GET /v2/positions`` and
``GET /v2/orders?status=open`` (paged oldest first, 500 at a time, by submission time).

The account (``get_account``, read by every target-mode router run) is kept for
``account_cache_s`` seconds (``ALPACA_ACCOUNT_CACHE_S``, at most 30): a submit or cancel, or
:meth:`AlpacaBroker.forget_account` (a fill the stream reported), drops it at once, and an
answer whose request started before such a drop is never kept. Failures are never kept.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from alpaca.common.exceptions import APIError

from app.domain.accounts import BrokerAccount, BrokerPosition, OpenOrder
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus, OrderType
from app.errors import NotFoundError, OrderRejected, RetryableError
from app.execution.alpaca.config import AlpacaTradingConfig
from app.execution.alpaca.parsing import (
    infer_rest,
    parse_account,
    parse_fill_activities,
    parse_open_order,
    parse_order,
    parse_position,
    parse_status,
    parse_venue_order,
)
from app.execution.ports import BrokerCapability

with warnings.catch_warnings():
    # alpaca.trading imports its websocket stream module, which uses websockets' legacy API
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    from alpaca.common.enums import Sort
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide as AlpacaSide
    from alpaca.trading.enums import QueryOrderStatus, TimeInForce
    from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest

__all__ = ["AlpacaBroker"]

_NOT_FOUND = 404
_UNPROCESSABLE = 422
_ORDERS_PAGE = 500  # the most GET /v2/orders returns at once
_ACTIVITIES_PAGE = 100  # the most GET /v2/account/activities returns at once
_DONE = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class AlpacaBroker:
    """Places market orders at Alpaca (paper unless configured for live)."""

    kind = "alpaca"

    def __init__(
        self, config: AlpacaTradingConfig, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._monotonic = monotonic
        self._account_lock = threading.Lock()
        self._account: tuple[float, BrokerAccount] | None = None  # (read started at, answer)
        self._account_generation = 0  # bumped by every order change; a read across one is not kept
        caps = {
            BrokerCapability.MARKET_ORDERS,
            BrokerCapability.NOTIONAL_ORDERS,
            BrokerCapability.FRACTIONAL_QTY,
        }
        if not config.paper:
            caps.add(BrokerCapability.LIVE_TRADING)
        self.capabilities = frozenset(caps)
        self._client = TradingClient(
            api_key=config.api_key,
            secret_key=config.api_secret,
            paper=config.paper,
            raw_data=True,
            url_override=config.url,
        )

    def submit(self, intent: OrderEvent, *, market_price: Decimal) -> OrderEvent:
        if intent.type is not OrderType.MARKET:
            raise OrderRejected(
                "broker_rejected", f"the Alpaca adapter places market orders only, got {intent.type}"
            )
        self.forget_account()  # from here the account may change (even if the submit fails)
        try:
            return self._submit(intent)
        finally:
            self.forget_account()  # the answer may have filled it: the next read asks Alpaca

    def _submit(self, intent: OrderEvent) -> OrderEvent:
        raw = self._find(intent.client_order_id)
        if raw is None:
            if intent.side is OrderSide.SELL and BrokerCapability.SHORT_SELLING not in self.capabilities:
                held = self._held_qty(intent.symbol)
                if held <= 0:
                    raise OrderRejected(
                        "no_position",
                        f"sell {intent.symbol} refused before sending: the Alpaca account holds no long "
                        f"position ({held}), and this adapter does not open shorts",
                    )
            try:
                raw = self._call(self._client.submit_order, self._request(intent))
            except _Duplicate:
                raw = self._find(intent.client_order_id)
                if raw is None:
                    raise OrderRejected(
                        "broker_protocol", f"Alpaca says {intent.client_order_id} exists but cannot find it"
                    ) from None
        return self._report(self._await_terminal(raw), intent)

    def find_order(self, client_order_id: str) -> OrderEvent | None:
        """The order Alpaca holds under ``client_order_id`` with its executions, each named as
        the stream and the catch-up name it (:func:`~app.execution.alpaca.parsing.fill_id`), so
        whichever path records a fill first, the others find it stored (reconciliation writes
        these reports for the orders the order consumer never wrote)."""
        raw = self._find(client_order_id)
        return None if raw is None else parse_venue_order(raw, self._executions(raw))

    def _executions(self, raw: dict[str, Any]) -> list[FillPayload]:
        """The order's FILL activities; what the feed does not list yet (Alpaca's order already
        counts it) is one inferred execution (:func:`~app.execution.alpaca.parsing.infer_rest`)."""
        filled = Decimal(str(raw.get("filled_qty") or 0))
        if filled <= 0:
            return []
        order_id = str(raw["id"])
        since = _submitted(raw) - timedelta(seconds=1)
        fills = parse_fill_activities(self.list_fill_activities(since), order_id)
        average = raw.get("filled_avg_price")
        if average in (None, ""):
            return fills
        stamp = str(raw.get("filled_at") or raw.get("updated_at") or "")
        try:
            at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            at = _submitted(raw)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        rest = infer_rest(order_id, fills, filled, Decimal(str(average)), at)
        return fills if rest is None else [*fills, rest]

    def cancel(self, order: OrderEvent) -> OrderEvent:
        self.forget_account()
        try:
            return self._cancel(order)
        finally:
            self.forget_account()

    def _cancel(self, order: OrderEvent) -> OrderEvent:
        raw = self._find(order.client_order_id)
        if raw is None:
            raise NotFoundError(f"Alpaca has no order {order.client_order_id}")
        if parse_status(str(raw.get("status", ""))) not in _DONE:
            try:
                self._call(self._client.cancel_order_by_id, str(raw["id"]))
            except _NotFound:
                raise NotFoundError(f"Alpaca has no order {order.client_order_id}") from None
            raw = self._await_terminal(raw)
        return self._report(raw, order)

    def _report(self, raw: dict[str, Any], intent: OrderEvent) -> OrderEvent:
        order_id = str(raw["id"])
        fills = []
        if Decimal(str(raw.get("filled_qty") or 0)) > 0:
            activities = self._call(
                self._client.get, "/account/activities/FILL", {"direction": "asc", "page_size": 100}
            )
            fills = parse_fill_activities(activities if isinstance(activities, list) else [], order_id)
        return parse_order(raw, intent, fills)

    def _await_terminal(self, raw: dict[str, Any]) -> dict[str, Any]:
        # Market orders usually fill within a second; report what is known after the wait.
        deadline = time.monotonic() + self.config.fill_wait_s
        while parse_status(str(raw.get("status", ""))) not in _DONE and time.monotonic() < deadline:
            time.sleep(self.config.fill_poll_s)
            latest = self._call(self._client.get_order_by_id, str(raw["id"]))
            if isinstance(latest, dict):
                raw = latest
        return raw

    def get_account(self) -> BrokerAccount:
        """The account as Alpaca reports it, reused for ``account_cache_s`` seconds unless an
        order changed since (see the module docstring)."""
        ttl = self.config.account_cache_s
        with self._account_lock:
            kept, generation = self._account, self._account_generation
        started = self._monotonic()
        if kept is not None and started - kept[0] < ttl:
            return kept[1]
        raw = self._call(self._client.get_account)
        if not isinstance(raw, dict):
            raise OrderRejected("broker_protocol", "Alpaca answered GET /v2/account with no object")
        account = parse_account(raw)
        if ttl > 0:
            with self._account_lock:
                if self._account_generation == generation:
                    self._account = (started, account)
        return account

    def forget_account(self) -> None:
        """Drop the kept account: an order was placed, cancelled or filled."""
        with self._account_lock:
            self._account_generation += 1
            self._account = None

    def list_positions(self) -> list[BrokerPosition]:
        raw = self._call(self._client.get_all_positions)
        if not isinstance(raw, list):
            raise OrderRejected("broker_protocol", "Alpaca answered GET /v2/positions with no list")
        return sorted((parse_position(item) for item in raw), key=lambda p: p.symbol)

    def list_open_orders(self) -> list[OpenOrder]:
        found: dict[str, OpenOrder] = {}
        for raw in self.list_orders_raw(QueryOrderStatus.OPEN):
            order = parse_open_order(raw)
            if order is not None:
                found.setdefault(order.broker_order_id, order)
        return sorted(found.values(), key=lambda o: (o.submitted_at, o.broker_order_id))

    def list_orders_raw(
        self, status: QueryOrderStatus, after: datetime | None = None
    ) -> list[dict[str, Any]]:
        """``GET /v2/orders`` with ``status``, submitted after ``after``: every page, oldest first.

        Pages are 500 orders; the next page starts a microsecond before the newest submission
        time seen (``after`` is exclusive), and orders read twice at the boundary count once.
        """
        found: dict[str, dict[str, Any]] = {}
        while True:
            request = GetOrdersRequest(status=status, limit=_ORDERS_PAGE, direction=Sort.ASC, after=after)
            page = self._call(self._client.get_orders, request)
            if not isinstance(page, list):
                raise OrderRejected("broker_protocol", "Alpaca answered GET /v2/orders with no list")
            fresh = 0
            for raw in page:
                if not isinstance(raw, dict) or not raw.get("id"):
                    raise OrderRejected("broker_protocol", "Alpaca listed an order without an id")
                if str(raw["id"]) not in found:
                    found[str(raw["id"])] = raw
                    fresh += 1
            if len(page) < _ORDERS_PAGE or fresh == 0:
                break
            after = max(_submitted(o) for o in found.values()) - timedelta(microseconds=1)
        return sorted(found.values(), key=lambda o: (_submitted(o), str(o["id"])))

    def get_order_raw(self, order_id: str) -> dict[str, Any] | None:
        """``GET /v2/orders/{order_id}``; ``None`` when Alpaca does not know the order."""
        try:
            raw = self._call(self._client.get_order_by_id, order_id)
        except _NotFound:
            return None
        if not isinstance(raw, dict):
            raise OrderRejected(
                "broker_protocol", f"Alpaca answered GET /v2/orders/{order_id} with no object"
            )
        return raw

    def list_fill_activities(self, after: datetime) -> list[dict[str, Any]]:
        """``GET /v2/account/activities/FILL`` since ``after``: every page, oldest first.

        Pages are 100 rows; the next page is asked with ``page_token`` = the last row's id.
        """
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "after": after.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "direction": "asc",
            "page_size": _ACTIVITIES_PAGE,
        }
        seen: set[str] = set()
        while True:
            page = self._call(self._client.get, "/account/activities/FILL", dict(params))
            if not isinstance(page, list):
                raise OrderRejected("broker_protocol", "Alpaca answered the FILL activities with no list")
            fresh = [row for row in page if isinstance(row, dict) and str(row.get("id")) not in seen]
            seen.update(str(row.get("id")) for row in fresh)
            rows.extend(fresh)
            if len(page) < _ACTIVITIES_PAGE or not fresh:
                return rows
            params["page_token"] = str(page[-1].get("id"))

    def close(self) -> None:
        session = getattr(self._client, "_session", None)  # alpaca-py keeps a requests.Session
        if session is not None:
            session.close()

    @staticmethod
    def _request(intent: OrderEvent) -> MarketOrderRequest:
        sizing: dict[str, Any] = (
            {"qty": float(intent.qty)}
            if intent.qty is not None
            else {"notional": float(intent.notional or 0)}
        )
        return MarketOrderRequest(
            symbol=intent.symbol,
            side=AlpacaSide.BUY if intent.side is OrderSide.BUY else AlpacaSide.SELL,
            time_in_force=TimeInForce(intent.time_in_force),
            client_order_id=intent.client_order_id,
            **sizing,
        )

    def _held_qty(self, symbol: str) -> Decimal:
        """The account's position in ``symbol`` (negative when short, 0 when none)."""
        try:
            position = self._call(self._client.get_open_position, symbol)
        except _NotFound:
            return Decimal(0)
        return Decimal(str(position.get("qty") or 0)) if isinstance(position, dict) else Decimal(0)

    def _find(self, client_order_id: str) -> dict[str, Any] | None:
        try:
            found = self._call(self._client.get_order_by_client_id, client_order_id)
        except _NotFound:
            return None
        return found if isinstance(found, dict) else None

    def _call(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except APIError as exc:
            status = exc.status_code
            message = _message(exc)
            if status == _NOT_FOUND:
                raise _NotFound(message) from exc
            if status == _UNPROCESSABLE and "unique" in message.lower():
                raise _Duplicate(message) from exc
            if status is not None and (status == 429 or status >= 500):
                raise RetryableError(f"Alpaca answered {status}: {message}") from exc
            raise OrderRejected("broker_rejected", f"Alpaca answered {status}: {message}") from exc
        except requests.RequestException as exc:
            raise RetryableError(f"Alpaca unreachable at {self.config.url}: {type(exc).__name__}") from exc


class _NotFound(Exception):
    pass


class _Duplicate(Exception):
    pass


def _submitted(raw: dict[str, Any]) -> datetime:
    value = str(raw.get("submitted_at") or raw.get("created_at") or "")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OrderRejected(
            "broker_protocol", f"Alpaca order {raw.get('id')!r} has no submission time"
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _message(exc: APIError) -> str:
    try:
        return str(exc.message)
    except Exception:
        return str(exc)
