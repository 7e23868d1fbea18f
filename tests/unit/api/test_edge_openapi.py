"""Issue 16, OpenAPI: problem responses declared, types enforced as declared, Allow on 405."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    services = Container(make_settings(API_BEARER_TOKEN="tok"))
    services.db.upgrade()
    with TestClient(create_app(container=services), headers={"Authorization": "Bearer tok"}) as test_client:
        yield test_client
    services.close()


def test_every_operation_declares_problem_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert len(operations) >= 13
    for path, method, op in operations:
        for status in ("400", "404", "413", "422", "500"):
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (path, method, status)
        protected = not path.startswith("/health") and path != "/"
        assert ("401" in op["responses"]) is protected, (path, method)


@pytest.mark.parametrize("since", ["0.5", "1700000000", "-1"])
def test_since_must_be_a_timestamp_not_a_number(client: TestClient, since: str) -> None:
    for path in ("/orders", "/fills"):
        response = client.get(path, params={"since": since})
        assert response.status_code == 422, (path, since, response.text)
        assert response.json()["errors"][0]["field"] == "since"


def test_since_accepts_iso_timestamps(client: TestClient) -> None:
    assert client.get("/orders", params={"since": "2026-01-02T00:00:00Z"}).status_code == 200


@pytest.mark.parametrize("active", [0, 1, "true", "yes", None])
def test_kill_switch_active_is_a_json_boolean(client: TestClient, active: object) -> None:
    response = client.post("/risk/kill-switch", json={"active": active, "reason": "test"})
    assert response.status_code == 422, response.text


def test_router_flags_are_json_booleans(client: TestClient) -> None:
    body = {"symbol": "AAPL", "start": "2025-01-02", "strategy": "breakout", "offline_mode": 1}
    assert client.post("/router/run", json=body).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/risk/kill-switch", "GET, POST"),
        ("PUT", "/health/live", "GET"),
        ("GET", "/router/run", "POST"),
        ("PATCH", "/backtests/sweeps/jobs", "GET, POST"),
    ],
)
def test_405_lists_every_allowed_method(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"
