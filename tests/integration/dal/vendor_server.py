"""A local HTTP server that answers like the five market-data vendors, from recorded payloads.

Each vendor lives under its own path prefix (``/alpaca``, ``/alphavantage``, ``/yahoo``,
``/twelvedata``, ``/finnhub/api/v1``), so pointing a ``*_BASE_URL`` setting at
``http://127.0.0.1:<port>/<prefix>`` sends that vendor's traffic here. Default answers come from
``tests/fixtures/vendors/<vendor>/``; a test can queue scripted answers (429s, 5xx, errors)
that are served first, and reads back every request received.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendors"

KEYS = {
    "alpaca": ("test-alpaca-key", "test-alpaca-secret"),
    "alphavantage": "test-av-key",
    "twelvedata": "test-td-key",
    "finnhub": "test-fh-key",
}

PREFIXES = {
    "alpaca": "/alpaca",
    "alphavantage": "/alphavantage",
    "yahoo": "/yahoo",
    "twelvedata": "/twelvedata",
    "finnhub": "/finnhub/api/v1",
}


def fixture(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    vendor: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class VendorState:
    """Scripted answers and the request log, shared with the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queued: dict[str, deque[Answer]] = defaultdict(deque)
        self.requests: list[Seen] = []

    def reset(self) -> None:
        with self.lock:
            self.queued.clear()
            self.requests.clear()

    def queue(self, vendor: str, *answers: Answer) -> None:
        with self.lock:
            self.queued[vendor].extend(answers)

    def seen(self, vendor: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.vendor == vendor]


def _json(status: int, name: str, vendor: str) -> Answer:
    return Answer(status, fixture(vendor, name))


def _alpaca(path: str, q: dict[str, str], h: dict[str, str]) -> Answer:
    key, secret = KEYS["alpaca"]
    if h.get("apca-api-key-id") != key or h.get("apca-api-secret-key") != secret:
        return _json(403, "error_403_forbidden.json", "alpaca")
    if path != "/v2/stocks/bars":
        return Answer(404, b'{"message":"endpoint not found."}')
    symbol = q.get("symbols", "")
    if not symbol.isalnum():
        return _json(400, "error_400_invalid_symbol.json", "alpaca")
    if symbol != "AAPL":
        return _json(200, "bars_unknown_symbol.json", "alpaca")
    if q.get("timeframe") == "1Day":
        return _json(200, "bars_1day_page2.json" if q.get("page_token") else "bars_1day_page1.json", "alpaca")
    if q.get("timeframe") == "5Min":
        return _json(200, "bars_5min.json", "alpaca")
    return Answer(422, b'{"message":"no recording for this timeframe"}')


def _alphavantage(path: str, q: dict[str, str], h: dict[str, str]) -> Answer:
    if path != "/query":
        return Answer(404, b"Not Found", "text/html")
    if q.get("apikey") != KEYS["alphavantage"]:
        return _json(200, "error_apikey.json", "alphavantage")
    if q.get("symbol") != "AAPL":
        return _json(200, "error_invalid_call.json", "alphavantage")
    if q.get("function") == "TIME_SERIES_DAILY":
        return _json(200, "daily.json", "alphavantage")
    if q.get("function") == "TIME_SERIES_INTRADAY" and q.get("interval") == "5min":
        return _json(200, "intraday_5min.json", "alphavantage")
    return _json(200, "error_invalid_call.json", "alphavantage")


def _yahoo(path: str, q: dict[str, str], h: dict[str, str]) -> Answer:
    prefix = "/v8/finance/chart/"
    if not path.startswith(prefix):
        return Answer(404, b"Not Found", "text/html")
    symbol = unquote(path[len(prefix) :])
    if symbol != "AAPL":
        return _json(404, "error_404_unknown_symbol.json", "yahoo")
    if q.get("interval") == "1d":
        return _json(200, "chart_1d.json", "yahoo")
    if q.get("interval") == "5m":
        return _json(200, "chart_5m.json", "yahoo")
    return _json(422, "error_422_range.json", "yahoo")


def _twelvedata(path: str, q: dict[str, str], h: dict[str, str]) -> Answer:
    if h.get("authorization") != f"apikey {KEYS['twelvedata']}" and q.get("apikey") != KEYS["twelvedata"]:
        return _json(401, "error_401.json", "twelvedata")
    if path != "/time_series":
        return Answer(404, b'{"code":404,"message":"not found","status":"error"}')
    if q.get("symbol") != "AAPL":
        return _json(404, "error_404_symbol.json", "twelvedata")
    name = {"1day": "time_series_1day.json", "5min": "time_series_5min.json"}.get(q.get("interval", ""))
    if name is None:
        return _json(400, "error_400_no_data.json", "twelvedata")
    return _json(200, name, "twelvedata")


def _finnhub(path: str, q: dict[str, str], h: dict[str, str]) -> Answer:
    if (h.get("x-finnhub-token") or q.get("token")) != KEYS["finnhub"]:
        return _json(401, "error_401.json", "finnhub")
    path = "/" + path.lstrip("/")
    if path == "/quote":
        return _json(200, "quote.json" if q.get("symbol") == "AAPL" else "quote_unknown.json", "finnhub")
    if path == "/stock/candle":
        if q.get("symbol") != "AAPL":
            return _json(200, "candle_no_data.json", "finnhub")
        name = {"D": "candle_d.json", "5": "candle_5.json"}.get(q.get("resolution", ""))
        if name is None:
            return _json(200, "candle_no_data.json", "finnhub")
        return _json(200, name, "finnhub")
    return Answer(404, b'{"error":"Not found"}')


ROUTERS = {
    "alpaca": _alpaca,
    "alphavantage": _alphavantage,
    "yahoo": _yahoo,
    "twelvedata": _twelvedata,
    "finnhub": _finnhub,
}


def _handler(state: VendorState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            vendor = next((v for v, p in PREFIXES.items() if parts.path.startswith(p + "/")), None)
            if vendor is None:
                self._send(Answer(404, b"no such vendor prefix", "text/plain"))
                return
            rest = parts.path[len(PREFIXES[vendor]) :]
            with state.lock:
                state.requests.append(Seen(vendor, rest, query, headers))
                scripted = state.queued[vendor].popleft() if state.queued[vendor] else None
            self._send(scripted or ROUTERS[vendor](rest, query, headers))

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(answer.body)

    return Handler


@dataclass
class VendorServer:
    """A running server: ``url(vendor)`` is the base URL to configure for that vendor."""

    port: int
    state: VendorState

    def url(self, vendor: str) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIXES[vendor]}"

    def settings_values(self) -> dict[str, Any]:
        """Base URLs and keys pointing every network vendor at this server."""
        alpaca_key, alpaca_secret = KEYS["alpaca"]
        return {
            "ALPACA_DATA_BASE_URL": self.url("alpaca"),
            "ALPHAVANTAGE_BASE_URL": self.url("alphavantage"),
            "YAHOO_BASE_URL": self.url("yahoo"),
            "TWELVEDATA_BASE_URL": self.url("twelvedata"),
            "FINNHUB_BASE_URL": self.url("finnhub"),
            "ALPACA_API_KEY": alpaca_key,
            "ALPACA_API_SECRET": alpaca_secret,
            "ALPHAVANTAGE_API_KEY": KEYS["alphavantage"],
            "TWELVEDATA_API_KEY": KEYS["twelvedata"],
            "FINNHUB_API_KEY": KEYS["finnhub"],
            "DAL_RETRY_BACKOFF_S": 0.0,
            "DAL_HTTP_TIMEOUT_S": 5.0,
        }

    def queue(self, vendor: str, *answers: Answer) -> None:
        self.state.queue(vendor, *answers)

    def seen(self, vendor: str) -> list[Seen]:
        return self.state.seen(vendor)


@contextmanager
def vendor_server() -> Iterator[VendorServer]:
    """Start the server on a free loopback port in a daemon thread; stop it on exit."""
    state = VendorState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="vendor-server", daemon=True)
    thread.start()
    try:
        yield VendorServer(port=int(httpd.server_address[1]), state=state)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def answer_json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(payload).encode(), headers=headers or {})
