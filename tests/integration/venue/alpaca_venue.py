"""A loopback Alpaca: the ``trade_updates`` websocket and the REST reads of the catch-up.

The stream side speaks Alpaca's documented protocol (``authenticate`` -> ``authorization``,
``listen`` -> ``listening``, then ``trade_updates`` frames as binary frames, as the paper
endpoint sends them). Frames the test sends while no client is connected are lost, as they
are at Alpaca: only the catch-up can recover what they said. The test can refuse the next
handshakes (HTTP 503), drop the connection (TCP abort) or make it silent (the server stops
sending and stops reading, so pings go unanswered: a half-open connection).

The REST side serves ``GET /v2/orders`` (``status=all|open``, ``after`` on the submission
time, ``direction=asc``, ``limit``), ``GET /v2/orders/{id}``, ``GET
/v2/orders:by_client_order_id`` and ``GET
/v2/account/activities/FILL`` (``after`` on the transaction time, ``page_size``,
``page_token``) from :attr:`VenueServer.orders` and :attr:`VenueServer.activities`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

KEY, SECRET = "PKTESTKEY", "test-secret"
_OPEN = {"new", "accepted", "pending_new", "partially_filled", "pending_cancel", "pending_replace", "held"}


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class VenueServer:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: list[dict[str, Any]] = field(default_factory=list)
    handshakes: list[float] = field(default_factory=list)
    """Monotonic time of every websocket handshake attempt (refused ones included)."""
    connections: list[float] = field(default_factory=list)
    """Monotonic time of every subscription that got to ``listening``."""
    lost_frames: int = 0
    refuse_next: int = 0
    queries: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stream_url: str = ""
    rest_url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _current: ServerConnection | None = None
    _outbox: asyncio.Queue[bytes] | None = None
    _silenced: list[ServerConnection] = field(default_factory=list)

    # --- test controls (called from the test thread) -------------------------------------
    def send(self, frame: dict[str, Any]) -> None:
        """Deliver ``frame`` to the connected client, or lose it when none is connected."""
        self._call(self._send(json.dumps(frame).encode()))

    def drop(self) -> None:
        """Abort the client's TCP connection without a close frame."""
        self._call(self._drop())

    def go_silent(self) -> None:
        """Stop sending and stop reading the client's connection (pings go unanswered)."""
        self._call(self._silence())

    def connected(self) -> int:
        with self.lock:
            return len(self.connections)

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # --- stream side ----------------------------------------------------------------------
    async def _send(self, data: bytes) -> None:
        if self._outbox is None:
            self.lost_frames += 1
        else:
            self._outbox.put_nowait(data)

    async def _drop(self) -> None:
        current, self._current, self._outbox = self._current, None, None
        if current is not None:
            current.transport.abort()

    async def _silence(self) -> None:
        current, self._current, self._outbox = self._current, None, None
        if current is not None:
            current.transport.pause_reading()
            self._silenced.append(current)

    def _refuse(self, connection: ServerConnection, request: Request) -> Response | None:
        with self.lock:
            self.handshakes.append(time.monotonic())
            if self.refuse_next > 0:
                self.refuse_next -= 1
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            auth = json.loads(await ws.recv())
            data = auth.get("data") or {}
            ok = auth.get("action") == "authenticate" and (data.get("key_id"), data.get("secret_key")) == (
                KEY,
                SECRET,
            )
            reply = {"action": "authenticate", "status": "authorized" if ok else "unauthorized"}
            await ws.send(json.dumps({"stream": "authorization", "data": reply}).encode())
            if not ok:
                await ws.close()
                return
            listen = json.loads(await ws.recv())
            streams = [s for s in listen.get("data", {}).get("streams", []) if s == "trade_updates"]
            await ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
            outbox: asyncio.Queue[bytes] = asyncio.Queue()
            self._current, self._outbox = ws, outbox
            with self.lock:
                self.connections.append(time.monotonic())
            closed = asyncio.ensure_future(ws.wait_closed())
            while True:
                getter = asyncio.ensure_future(outbox.get())
                done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:  # dropped, silenced and aborted, or the server stopped
                    getter.cancel()
                    return
                await ws.send(getter.result())
        except (ConnectionClosed, OSError):
            return

    # --- REST side ------------------------------------------------------------------------
    def _rest_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return None

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                keys = (self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY"))
                if keys != (KEY, SECRET):
                    self._send(401, {"code": 40110000, "message": "request is not authorized"})
                    return
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                with server.lock:
                    server.queries.append((url.path, query))
                    orders = [dict(o) for o in server.orders.values()]
                    activities = [dict(a) for a in server.activities]
                if url.path == "/v2/orders":
                    status = query.get("status", ["open"])[0]
                    if query.get("direction") != ["asc"] or status not in ("open", "all"):
                        self._send(422, {"code": 42210000, "message": f"unexpected query {query}"})
                        return
                    rows = sorted(orders, key=lambda o: _stamp(o["submitted_at"]))
                    if status == "open":
                        rows = [o for o in rows if o["status"] in _OPEN]
                    if "after" in query:
                        after = _stamp(query["after"][0])
                        rows = [o for o in rows if _stamp(o["submitted_at"]) > after]
                    self._send(200, rows[: int(query.get("limit", ["50"])[0])])
                elif url.path == "/v2/orders:by_client_order_id":
                    wanted = query.get("client_order_id", [""])[0]
                    found = [o for o in orders if o["client_order_id"] == wanted]
                    if found:
                        self._send(200, found[0])
                    else:
                        self._send(404, {"code": 40410000, "message": f"order not found for {wanted}"})
                elif url.path.startswith("/v2/orders/"):
                    order_id = url.path.rsplit("/", 1)[1]
                    found = [o for o in orders if o["id"] == order_id]
                    if found:
                        self._send(200, found[0])
                    else:
                        self._send(404, {"code": 40410000, "message": "order not found"})
                elif url.path == "/v2/account/activities/FILL":
                    rows = sorted(activities, key=lambda a: (_stamp(a["transaction_time"]), a["id"]))
                    if "after" in query:
                        after = _stamp(query["after"][0])
                        rows = [a for a in rows if _stamp(a["transaction_time"]) > after]
                    if "page_token" in query:
                        ids = [a["id"] for a in rows]
                        token = query["page_token"][0]
                        rows = rows[ids.index(token) + 1 :] if token in ids else []
                    self._send(200, rows[: int(query.get("page_size", ["100"])[0])])
                else:
                    self._send(404, {"code": 40400000, "message": "endpoint not found"})

        return Handler


@contextmanager
def venue_server() -> Iterator[VenueServer]:
    """Run both sides on free loopback ports; stop them (and every connection) on exit."""
    venue = VenueServer()
    http = ThreadingHTTPServer(("127.0.0.1", 0), venue._rest_handler())
    http_thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    http_thread.start()
    venue.rest_url = f"http://127.0.0.1:{http.server_address[1]}"
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Server] = {}

    async def start() -> None:
        server = await serve(
            venue._handle,
            "127.0.0.1",
            0,
            process_request=venue._refuse,
            ping_interval=None,
            close_timeout=0.5,
        )
        holder["server"] = server
        port = next(iter(server.sockets)).getsockname()[1]
        venue.stream_url = f"ws://127.0.0.1:{port}/stream"
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    venue._loop = loop
    thread = threading.Thread(target=run, name="venue-ws", daemon=True)
    thread.start()
    assert started.wait(10), "the websocket server did not start"
    try:
        yield venue
    finally:

        async def stop() -> None:
            for connection in [venue._current, *venue._silenced]:
                if connection is not None:
                    connection.transport.abort()
            server = holder["server"]
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        http.shutdown()
        http.server_close()
        http_thread.join(timeout=5)
