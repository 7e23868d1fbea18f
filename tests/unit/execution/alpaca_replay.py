"""A loopback HTTP server that replays Alpaca's recorded trading API payloads.

It keeps orders by ``client_order_id`` like Alpaca does: the first lookup of an unknown id is
404, ``POST /v2/orders`` answers with the recorded ``accepted`` order, and later reads answer
with the recorded ``filled`` order. ``mode`` selects a recorded failure instead.

For reconciliation it also answers ``GET /v2/account`` (``state.account``), ``GET
/v2/positions`` (every item of ``state.positions``) and ``GET /v2/orders`` (``state.open_orders``
filtered by ``after`` and cut at ``limit``, oldest first, like Alpaca's ``direction=asc``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alpaca_trading"


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class ReplayState:
    mode: str = "fill"  # fill | reject | unauthorized | race | server_error | read_error
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    account: dict[str, Any] | None = None
    open_orders: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    auth_headers: list[tuple[str | None, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: ReplayState) -> type[BaseHTTPRequestHandler]:
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

        def _record(self) -> None:
            with state.lock:
                state.requests.append((self.command, urlsplit(self.path).path))
                state.auth_headers.append(
                    (self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY"))
                )

        def do_GET(self) -> None:
            self._record()
            if state.mode == "unauthorized":
                self._send(401, load("error_unauthorized.json"))
                return
            url = urlsplit(self.path)
            if state.mode == "read_error" and url.path in ("/v2/account", "/v2/positions", "/v2/orders"):
                self._send(503, {"code": 50310000, "message": "service unavailable"})
                return
            if url.path == "/v2/account":
                self._send(200, state.account if state.account is not None else load("account.json"))
            elif url.path == "/v2/positions":
                with state.lock:
                    self._send(200, list(state.positions.values()))
            elif url.path == "/v2/orders":
                query = parse_qs(url.query)
                with state.lock:
                    state.queries.append(query)
                    rows = sorted(state.open_orders, key=lambda o: _stamp(o["submitted_at"]))
                if query.get("status") != ["open"] or query.get("direction") != ["asc"]:
                    self._send(
                        422,
                        {"code": 42210000, "message": f"replay expects status=open&direction=asc: {query}"},
                    )
                    return
                if "after" in query:
                    after = datetime.fromisoformat(query["after"][0])
                    rows = [o for o in rows if _stamp(o["submitted_at"]) > after]
                self._send(200, rows[: int(query.get("limit", ["50"])[0])])
            elif url.path == "/v2/orders:by_client_order_id":
                coid = parse_qs(url.query)["client_order_id"][0]
                with state.lock:
                    order = state.orders.get(coid)
                if order is None:
                    body = load("error_order_not_found.json")
                    body["message"] = body["message"].replace("REPLACED_BY_SERVER", coid)
                    self._send(404, body)
                else:
                    self._send(200, order)
            elif url.path.startswith("/v2/orders/"):
                order_id = url.path.rsplit("/", 1)[1]
                with state.lock:
                    found = [o for o in state.orders.values() if o["id"] == order_id]
                if found and found[0]["status"] == "canceled":
                    self._send(200, found[0])
                elif found:
                    filled = load("order_filled.json")
                    filled["client_order_id"] = found[0]["client_order_id"]
                    with state.lock:
                        state.orders[filled["client_order_id"]] = filled
                    self._send(200, filled)
                else:
                    self._send(404, load("error_order_not_found.json"))
            elif url.path.startswith("/v2/positions/"):
                symbol = url.path.rsplit("/", 1)[1]
                with state.lock:
                    position = state.positions.get(symbol)
                if position is None:
                    self._send(404, load("error_position_not_found.json"))
                else:
                    self._send(200, position)
            elif url.path == "/v2/account/activities/FILL":
                self._send(200, load("activities_fill.json"))
            else:
                self._send(404, {"code": 40400000, "message": "endpoint not found"})

        def do_DELETE(self) -> None:
            """``DELETE /v2/orders/{id}``: cancel a working order (204), like Alpaca."""
            self._record()
            order_id = urlsplit(self.path).path.rsplit("/", 1)[1]
            with state.lock:
                found = [o for o in state.orders.values() if o["id"] == order_id]
                if found and found[0]["status"] in ("new", "accepted", "partially_filled"):
                    found[0].update(status="canceled", canceled_at="2025-01-03T14:31:05Z")
            if not found:
                self._send(404, load("error_order_not_found.json"))
                return
            self.send_response(204)
            self.end_headers()

        def do_POST(self) -> None:
            self._record()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            with state.lock:
                state.posted.append(body)
            coid = body["client_order_id"]
            if state.mode == "reject":
                self._send(403, load("error_insufficient_buying_power.json"))
            elif state.mode == "unauthorized":
                self._send(401, load("error_unauthorized.json"))
            elif state.mode == "server_error":
                self._send(500, {"code": 50010000, "message": "internal server error"})
            elif state.mode == "race" or coid in state.orders:
                # another submit won: Alpaca keeps the first order and refuses this one
                accepted = load("order_accepted.json")
                accepted["client_order_id"] = coid
                with state.lock:
                    state.orders.setdefault(coid, accepted)
                self._send(422, load("error_duplicate_client_order_id.json"))
            else:
                accepted = load("order_accepted.json")
                accepted["client_order_id"] = coid
                with state.lock:
                    state.orders[coid] = accepted
                self._send(200, accepted)

    return Handler


@contextmanager
def alpaca_replay_server(mode: str = "fill") -> Iterator[tuple[str, ReplayState]]:
    """Serve on a free loopback port; yield ``(base_url, state)``."""
    state = ReplayState(mode=mode)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
