"""Alpaca's ``trade_updates`` websocket and the REST catch-up behind it.

The wire protocol is Alpaca's documented one (https://docs.alpaca.markets/docs/websocket-streaming):
the client sends ``{"action": "authenticate", "data": {"key_id", "secret_key"}}`` and waits for
``{"stream": "authorization", "data": {"status": "authorized"}}``, then sends
``{"action": "listen", "data": {"streams": ["trade_updates"]}}`` and waits for the
``listening`` acknowledgement naming ``trade_updates``. Order updates follow as
``{"stream": "trade_updates", "data": {...}}``, in binary frames on the paper endpoint and text
frames elsewhere; both are accepted.

alpaca-py's ``TradingStream`` speaks the same protocol and accepts a ``url_override``, but it
runs its own reconnect loop (fixed back-off, no hook after a reconnect, no view of its pings)
on websockets' deprecated legacy client. The venue-updates worker must run a catch-up after
every reconnect, bound its back-off and detect a silent connection itself, so this module
speaks the protocol with ``websockets``' asyncio client and leaves every reconnect decision to
the worker.

The catch-up uses the REST API through :class:`~app.execution.alpaca.broker.AlpacaBroker`:
``GET /v2/orders?status=all&after=...&direction=asc`` (paged), the open orders of any age,
``GET /v2/orders/{id}`` for watched orders neither listing returned, and the FILL activities
since the same moment for the executions. Fills are named by
:func:`~app.execution.alpaca.parsing.fill_id`, so an execution seen both on the stream and in
the catch-up is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import warnings
from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from app.domain.orders import FillPayload
from app.errors import ConfigError, OrderRejected
from app.execution.alpaca.broker import AlpacaBroker
from app.execution.alpaca.config import AlpacaTradingConfig
from app.execution.alpaca.parsing import parse_fill_activities, parse_trade_update, parse_venue_order
from app.execution.venue import CatchUp, StreamLost, StreamSilent, VenueUpdate

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    from alpaca.trading.enums import QueryOrderStatus

__all__ = ["AlpacaStreamConnection", "AlpacaVenueFeed"]

log = logging.getLogger("app.execution.alpaca.stream")
_WIRE_LOG = logging.getLogger("app.execution.alpaca.stream.wire")
_WIRE_LOG.setLevel(logging.INFO)  # websockets logs frames at DEBUG: the first one holds the keys

_MAX_FRAME_BYTES = 4 * 1024 * 1024
_QUEUE_FRAMES = 4096  # frames buffered while the worker publishes or catches up


class AlpacaStreamConnection:
    """One authenticated ``trade_updates`` subscription."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._ws = websocket
        self._dead = False

    async def receive(self, timeout_s: float) -> Mapping[str, Any] | None:
        try:
            raw = await asyncio.wait_for(self._ws.recv(), timeout_s)
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            raise StreamLost(f"Alpaca closed the stream ({_close_reason(exc)})") from None
        except OSError as exc:
            raise StreamLost(f"stream read failed: {type(exc).__name__}: {exc}") from None
        return _decode(raw)

    async def ping(self, timeout_s: float) -> float:
        started = time.monotonic()
        try:
            waiter = await self._ws.ping()
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            self._dead = True
            raise StreamSilent(f"no pong within {timeout_s:.1f} s") from None
        except ConnectionClosed as exc:
            raise StreamLost(f"Alpaca closed the stream ({_close_reason(exc)})") from None
        except OSError as exc:
            raise StreamLost(f"ping failed: {type(exc).__name__}: {exc}") from None
        return time.monotonic() - started

    async def close(self) -> None:
        """Close politely; a connection that stopped answering is aborted (no close handshake
        to wait for)."""
        if self._dead:
            self.abort()
            return
        with contextlib.suppress(ConnectionClosed, OSError):
            await self._ws.close()

    def abort(self) -> None:
        self._dead = True
        self._ws.transport.abort()


class AlpacaVenueFeed:
    """Alpaca's order updates: the stream, and the REST catch-up through the broker client."""

    def __init__(self, config: AlpacaTradingConfig, broker: AlpacaBroker | None = None) -> None:
        self.config = config
        self.name = "alpaca-paper" if config.paper else "alpaca-live"
        self.url = config.stream_url
        self._broker = broker or AlpacaBroker(config)

    async def connect(self, timeout_s: float) -> AlpacaStreamConnection:
        try:
            websocket = await connect(
                self.url,
                open_timeout=timeout_s,
                close_timeout=min(timeout_s, 5.0),
                ping_interval=None,  # the worker pings, and decides when the stream is dead
                max_size=_MAX_FRAME_BYTES,
                max_queue=_QUEUE_FRAMES,
                logger=_WIRE_LOG,
            )
        except InvalidURI as exc:
            raise ConfigError(f"ALPACA_STREAM_URL is not a websocket URL: {exc}") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise StreamLost(f"cannot connect to {self.url}: {type(exc).__name__}: {exc}") from None
        connection = AlpacaStreamConnection(websocket)
        try:
            await self._handshake(websocket, timeout_s)
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _handshake(self, websocket: ClientConnection, timeout_s: float) -> None:
        auth = {
            "action": "authenticate",
            "data": {"key_id": self.config.api_key, "secret_key": self.config.api_secret},
        }
        reply = await _exchange(websocket, auth, "authorization", timeout_s)
        status = str(reply.get("status") or "")
        if status != "authorized":
            # Alpaca answers {"status": "unauthorized"} for wrong keys: retrying cannot help
            raise ConfigError(
                f"Alpaca refused the stream credentials ({status or 'no status'}); check ALPACA_API_KEY, "
                "ALPACA_API_SECRET and ALPACA_PAPER"
            )
        listen = {"action": "listen", "data": {"streams": ["trade_updates"]}}
        reply = await _exchange(websocket, listen, "listening", timeout_s)
        streams = reply.get("streams")
        if not isinstance(streams, list) or "trade_updates" not in streams:
            raise StreamLost(f"Alpaca did not subscribe trade_updates (listening to {streams!r})")

    def parse(self, frame: Mapping[str, Any]) -> VenueUpdate | None:
        update = parse_trade_update(frame)
        if update is None:
            return None
        if update.order.fills or update.event in ("canceled", "expired", "rejected"):
            self._broker.forget_account()  # cash and positions moved: the next read asks Alpaca
        data = frame.get("data")
        order = data.get("order") if isinstance(data, Mapping) else None
        filled = order.get("filled_qty") if isinstance(order, Mapping) else None
        try:
            cumulative = Decimal(str(filled)) if filled not in (None, "") else None
        except ArithmeticError:
            cumulative = None
        return VenueUpdate(update.event, update.at, update.order, update.execution_id, cumulative)

    def catch_up(self, since: datetime, watch: Collection[str]) -> CatchUp:
        broker = self._broker
        orders: dict[str, dict[str, Any]] = {}
        for raw in broker.list_orders_raw(QueryOrderStatus.ALL, after=since):
            orders[str(raw["id"])] = raw
        for raw in broker.list_orders_raw(QueryOrderStatus.OPEN):
            orders.setdefault(str(raw["id"]), raw)
        activities = broker.list_fill_activities(since)
        wanted = set(watch) | {str(row.get("order_id")) for row in activities if row.get("order_id")}
        for order_id in sorted(wanted - orders.keys()):
            raw_order = broker.get_order_raw(order_id)
            if raw_order is not None:
                orders[order_id] = raw_order
        reports = []
        incomplete = set()
        filled: dict[str, Decimal] = {}
        for order_id, raw in orders.items():
            try:
                fills = parse_fill_activities(activities, order_id)
                reports.append(parse_venue_order(raw, fills))
            except OrderRejected as exc:
                # one order ai-trader cannot track (a trailing stop placed by hand ...) must
                # not hold back the catch-up of every other order
                log.warning("catch-up skips Alpaca order %s: %s", order_id, exc.detail or exc)
                continue
            filled[order_id] = _filled(raw)
            if _missing_executions(raw, fills):
                incomplete.add(order_id)
        reports.sort(key=lambda r: (r.ts, r.broker_order_id or ""))
        return CatchUp(reports, frozenset(incomplete), filled)

    def close(self) -> None:
        self._broker.close()


def _filled(raw: Mapping[str, Any]) -> Decimal:
    try:
        value = Decimal(str(raw.get("filled_qty") or 0))
    except ArithmeticError:
        return Decimal(0)
    return value if value.is_finite() and value > 0 else Decimal(0)


def _missing_executions(raw: Mapping[str, Any], fills: list[FillPayload]) -> bool:
    """True when the order says more is filled than the newest listed execution accounts for.

    Executions before the catch-up window are not listed, so only the newest cumulative
    quantity is compared: each fill's ``cum_qty`` (or, for a fill without it, the cumulative
    quantity its id ends with).
    """
    filled = _filled(raw)
    if filled <= 0:
        return False
    newest = Decimal(0)
    for fill in fills:
        if fill.cum_qty is not None:
            newest = max(newest, fill.cum_qty)
            continue
        _, _, cumulative = fill.venue_fill_id.rpartition(":")
        try:
            newest = max(newest, Decimal(cumulative))
        except ArithmeticError:
            continue
    return newest < filled


async def _exchange(
    websocket: ClientConnection, message: Mapping[str, Any], stream: str, timeout_s: float
) -> Mapping[str, Any]:
    """Send ``message``; return the ``data`` of the first reply on ``stream``."""
    try:
        await websocket.send(json.dumps(message))
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamLost(f"no {stream} reply within {timeout_s:.1f} s")
            frame = _decode(await asyncio.wait_for(websocket.recv(), remaining))
            if frame.get("stream") == stream:
                data = frame.get("data")
                return data if isinstance(data, Mapping) else {}
            if frame.get("stream") == "error" or "error" in frame:
                # an error reply to the handshake is Alpaca's refusal (bad message or keys)
                raise ConfigError(f"Alpaca stream refused the {stream} step: {_summary(frame)}")
    except TimeoutError:
        raise StreamLost(f"no {stream} reply within {timeout_s:.1f} s") from None
    except OrderRejected as exc:
        raise StreamLost(f"unreadable {stream} reply: {exc}") from None
    except ConnectionClosed as exc:
        raise StreamLost(f"Alpaca closed the stream during {stream} ({_close_reason(exc)})") from None
    except OSError as exc:
        raise StreamLost(f"stream failed during {stream}: {type(exc).__name__}: {exc}") from None


def _decode(raw: str | bytes) -> Mapping[str, Any]:
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise OrderRejected("broker_protocol", f"stream frame is not JSON ({len(raw)} bytes)") from None
    if not isinstance(frame, Mapping):
        raise OrderRejected("broker_protocol", "stream frame is not a JSON object")
    return frame


def _summary(frame: Mapping[str, Any]) -> str:
    text = json.dumps(frame)[:200]
    return text


def _close_reason(exc: ConnectionClosed) -> str:
    received = exc.rcvd
    if received is None:
        return "no close frame"
    return f"code {received.code}{': ' + received.reason if received.reason else ''}"
