from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api import auth
from app.api.app import create_app
from app.api.server import check_bind
from app.bootstrap import Container
from app.config import Settings
from app.errors import ConfigError, NotFoundError, OrderRejected, StorageError


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[FastAPI]:
    services = Container(make_settings())
    services.db.upgrade()
    yield create_app(container=services)
    services.close()


@pytest.fixture
def client(api: FastAPI) -> Iterator[TestClient]:
    with TestClient(api) as test_client:
        yield test_client


def test_index_live_ready_docs_answer_200(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert index.json()["name"] == "ai-trader"
    assert index.json()["links"]["docs"].endswith("/docs")
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) >= {"database", "blob"}
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "ai-trader"


def test_ui_paths_redirect_to_the_dashboard_without_a_token(make_settings: Callable[..., Settings]) -> None:
    for values, expected in (
        ({"UI_PORT": 18501}, "http://127.0.0.1:18501/ui/"),
        (
            {"UI_BASE_URL": "https://fd.example.net/ui/", "API_BEARER_TOKEN": "t0ken"},
            "https://fd.example.net/ui/",
        ),
    ):
        services = Container(make_settings(**values))
        services.db.upgrade()
        with TestClient(create_app(container=services)) as client:
            for path in ("/ui", "/ui/", "/ui/some/page"):
                answer = client.get(path, follow_redirects=False)
                assert (answer.status_code, answer.headers["location"]) == (307, expected)
            assert client.get("/").json()["links"]["ui"] == expected
            assert "/ui" not in client.get("/openapi.json").json()["paths"]
        services.close()


def test_ready_names_the_failing_dependency(api: FastAPI, client: TestClient) -> None:
    def broken() -> None:
        raise StorageError("connection refused")

    api.state.container.add_readiness_check("database", broken)
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert "connection refused" in body["checks"]["database"]["reason"]
    assert body["checks"]["blob"]["status"] == "ok"


def test_ready_check_that_hangs_times_out(
    make_settings: Callable[..., Settings],
) -> None:
    import threading

    release = threading.Event()
    services = Container(make_settings(READY_CHECK_TIMEOUT_S=0.2))
    services.add_readiness_check("slow", lambda: release.wait(5) and None)
    with TestClient(create_app(container=services)) as client:
        response = client.get("/health/ready")
        release.set()
    assert response.status_code == 503
    assert "no answer within 0.2 s" in response.json()["checks"]["slow"]["reason"]


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    generated = client.get("/health/live").headers["x-request-id"]
    assert len(generated) == 32
    echoed = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


def test_unknown_route_is_problem_details_not_html(client: TestClient) -> None:
    response = client.get("/nope", headers={"X-Request-ID": "rid-1"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["type"].startswith("https://")
    assert body["request_id"] == "rid-1"
    assert "detail" in body


def _add_failing_routes(api: FastAPI) -> None:
    def not_found() -> None:
        raise NotFoundError("order 7 not found")

    def rejected() -> None:
        raise OrderRejected("kill_switch_active", "global switch is on")

    def crash() -> None:
        raise RuntimeError("secret internals")

    def misconfigured() -> None:
        raise ConfigError("BROKER: alpaca needs ALPACA_API_KEY")

    def typed(limit: int) -> dict[str, int]:
        return {"limit": limit}

    api.add_api_route("/t/not-found", not_found)
    api.add_api_route("/t/rejected", rejected)
    api.add_api_route("/t/crash", crash)
    api.add_api_route("/t/config", misconfigured)
    api.add_api_route("/t/typed", typed)


def test_domain_errors_map_to_status_codes(api: FastAPI) -> None:
    _add_failing_routes(api)
    with TestClient(api, raise_server_exceptions=False) as client:
        assert client.get("/t/not-found").json()["status"] == 404
        rejected = client.get("/t/rejected").json()
        assert rejected["status"] == 409
        assert rejected["reason"] == "kill_switch_active"
        assert client.get("/t/config").status_code == 500
        crash = client.get("/t/crash")
        assert crash.status_code == 500
        assert crash.headers["content-type"] == "application/problem+json"
        assert "secret internals" not in crash.text
        assert "Traceback" not in crash.text
        invalid = client.get("/t/typed", params={"limit": "many"})
        assert invalid.status_code == 422
        assert "limit" in invalid.json()["detail"]
        assert invalid.json()["errors"][0]["field"] == "limit"


def test_logs_are_json_lines_with_request_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    from app.observability import JsonFormatter

    with caplog.at_level(logging.INFO, logger="app.api.access"):
        client.get("/health/live", headers={"X-Request-ID": "log-rid"})
    record = next(r for r in caplog.records if r.name == "app.api.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["status"] == 200
    assert line["msg"] == "GET /health/live 200"


# --- auth ------------------------------------------------------------------------------------


@pytest.fixture
def secured(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    services = Container(make_settings(API_BEARER_TOKEN="s3cret-token"))
    services.db.upgrade()  # readiness also checks the schema version
    api = create_app(container=services)

    def private() -> dict[str, bool]:
        return {"ok": True}

    from fastapi import APIRouter, Depends

    router = APIRouter(dependencies=[Depends(auth.require_bearer)])
    router.add_api_route("/private", private)
    api.include_router(router)
    with TestClient(api) as client:
        yield client
    services.close()


def test_missing_token_is_401(secured: TestClient) -> None:
    response = secured.get("/private")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "missing bearer token"


def test_wrong_token_is_401(secured: TestClient) -> None:
    response = secured.get("/private", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid bearer token"
    assert secured.get("/private", headers={"Authorization": "Basic s3cret-token"}).status_code == 401


def test_right_token_passes_and_public_routes_stay_open(secured: TestClient) -> None:
    assert secured.get("/private", headers={"Authorization": "Bearer s3cret-token"}).json() == {"ok": True}
    for path in ("/", "/health/live", "/health/ready", "/docs", "/openapi.json"):
        assert secured.get(path).status_code == 200, path


def test_token_compare_is_constant_time(secured: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth, "compare_digest", spy)
    secured.get("/private", headers={"Authorization": "Bearer wrong"})
    secured.get("/private", headers={"Authorization": "Bearer s3cret-token"})
    assert calls == [(b"wrong", b"s3cret-token"), (b"s3cret-token", b"s3cret-token")]


def test_open_api_refuses_non_loopback_bind(make_settings: Callable[..., Settings]) -> None:
    open_settings = make_settings()
    check_bind(open_settings, "127.0.0.1")
    check_bind(open_settings, "localhost")
    check_bind(open_settings, "::1")
    with pytest.raises(ConfigError, match="API_BEARER_TOKEN"):
        check_bind(open_settings, "0.0.0.0")
    check_bind(make_settings(API_BEARER_TOKEN="t"), "0.0.0.0")
