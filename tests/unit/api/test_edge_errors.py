"""Issue 16: inputs that were 500s are 422 problems; 500s carry the request id; bodies are bounded."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings

BACKTEST = {"symbol": "AAPL", "start": "2024-01-02", "end": "2024-03-01", "strategy": "breakout"}
ROUTER = {"symbol": "AAPL", "start": "2025-01-02T00:00:00Z", "strategy": "breakout", "offline_mode": True}


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[FastAPI]:
    services = Container(make_settings(API_MAX_BODY_BYTES=4096, ROUTER_MAX_BARS=10_000))
    services.db.upgrade()
    yield create_app(container=services)
    services.close()


@pytest.fixture
def client(api: FastAPI) -> Iterator[TestClient]:
    with TestClient(api, raise_server_exceptions=False) as test_client:
        yield test_client


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    return body


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/backtests/run", BACKTEST | {"start": "0001-01-01"}, "start"),
        ("/backtests/run", BACKTEST | {"end": "9999-12-31"}, "end"),
        ("/router/run", ROUTER | {"start": "0001-01-01"}, "start"),
        ("/backtests/run", BACKTEST | {"params": {"entry_window": 1e300}}, "entry_window"),
        ("/backtests/run", BACKTEST | {"params": {"entry_window": "1e400"}}, "entry_window"),
        ("/backtests/run", BACKTEST | {"warmup_bars": 1_000_000_000}, "warmup_bars"),
    ],
)
def test_former_500s_are_422_problems(
    client: TestClient, path: str, body: dict[str, object], field: str
) -> None:
    problem = _problem(client.post(path, json=body), 422)
    assert field in str(problem["detail"]) or field in json.dumps(problem.get("errors"))


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_non_finite_money_is_refused(client: TestClient, literal: str) -> None:
    raw = json.dumps(BACKTEST)[:-1] + f', "initial_cash": {literal}}}'
    problem = _problem(
        client.post("/backtests/run", content=raw, headers={"content-type": "application/json"}), 422
    )
    assert "initial_cash" in json.dumps(problem)


def test_router_window_above_the_bar_limit_is_a_fast_422(client: TestClient) -> None:
    started = time.perf_counter()
    response = client.post("/router/run", json=ROUTER | {"start": "1990-01-01", "interval": "1Min"})
    elapsed = time.perf_counter() - started
    problem = _problem(response, 422)
    assert "ROUTER_MAX_BARS" in str(problem["detail"]) and "10,000" in str(problem["detail"])
    assert elapsed < 1.0


def test_a_body_above_the_limit_is_413_declared_or_chunked(client: TestClient) -> None:
    big = b'{"symbol": "' + b"A" * 10_000 + b'"}'
    declared = client.post("/router/run", content=big, headers={"content-type": "application/json"})
    assert _problem(declared, 413)["detail"].startswith("request body is larger than 4096 bytes")  # type: ignore[union-attr]

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    chunked = client.post("/router/run", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in chunked.request.headers  # sent chunked: counted, not declared
    _problem(chunked, 413)
    assert client.get("/health/live").status_code == 200


def test_unexpected_error_body_and_header_carry_the_request_id_logged_once(
    api: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    api.add_api_route("/t/crash", crash)
    with caplog.at_level(logging.ERROR):
        response = client.get("/t/crash", headers={"X-Request-ID": "rid-500"})
    body = _problem(response, 500)
    assert body["request_id"] == "rid-500"
    assert response.headers["x-request-id"] == "rid-500"
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1
    from app.observability import JsonFormatter

    line = json.loads(JsonFormatter().format(tracebacks[0]))
    assert line["request_id"] == "rid-500"
    generated = client.get("/t/crash")
    assert generated.json()["request_id"] == generated.headers["x-request-id"]


def test_keep_alive_survives_a_500_on_a_real_server(api: FastAPI) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    api.add_api_route("/t/crash", crash)
    config = uvicorn.Config(api, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/t/crash")
        first = connection.getresponse()
        first.read()
        assert first.status == 500
        assert first.getheader("connection") != "close"
        sock = connection.sock
        connection.request("GET", "/health/live")
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read()) == {"status": "ok"}
        assert connection.sock is sock  # the same TCP connection
        connection.close()
    finally:
        server.should_exit = True
        thread.join(10)


def test_every_response_has_an_x_request_id(client: TestClient) -> None:
    for response in (
        client.get("/"),
        client.get("/nope"),
        client.post("/router/run", json={}),
        client.delete("/health/live"),
    ):
        assert len(response.headers["x-request-id"]) >= 8


def test_error_details_show_no_server_paths_nor_settings(api: FastAPI, client: TestClient) -> None:
    from app.errors import ConfigError, StorageError

    def storage() -> None:
        raise StorageError("cannot write frame /srv/ai-trader/artifacts/frames/x.parquet: No space left")

    def config() -> None:
        raise ConfigError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_API_SECRET")

    api.add_api_route("/t/storage", storage)
    api.add_api_route("/t/config", config)
    detail = _problem(client.get("/t/storage"), 503)["detail"]
    assert "/srv/ai-trader" not in str(detail) and ".../x.parquet" in str(detail)
    hidden = _problem(client.get("/t/config"), 500)
    assert "ALPACA_API_KEY" not in str(hidden["detail"]) and hidden["request_id"]
