from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from tests.servers import free_port


def test_ready_is_503_naming_a_dead_database_within_3_seconds(make_settings: Callable[..., Settings]) -> None:
    dead = free_port()  # nothing listens here
    services = Container(make_settings(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/ai"))
    with TestClient(create_app(container=services)) as client:
        started = time.monotonic()
        response = client.get("/health/ready")
        elapsed = time.monotonic() - started
        assert client.get("/health/live").status_code == 200
    assert response.status_code == 503
    assert elapsed < 3.0
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["checks"]["database"]["reason"]
    assert body["checks"]["blob"]["status"] == "ok"


def test_ready_is_200_on_postgres_and_azurite(
    make_settings: Callable[..., Settings], postgres_url: str, azurite: object
) -> None:
    from tests.servers import Server

    assert isinstance(azurite, Server)
    services = Container(
        make_settings(
            DATABASE_URL=postgres_url, AZURE_STORAGE_CONNECTION_STRING=azurite.extra["connection_string"]
        )
    )
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["blob"]["status"] == "ok"
