"""``POST /backtests/run`` uses the process's database: no migration, no new engine per request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.storage.db import Database

BODY = {
    "symbol": "aapl",
    "start": "2023-01-03",
    "end": "2023-02-03",
    "strategy": "momentum",
    "use_probabilistic": True,
    "risk_agent": "fractional_kelly",
    "risk_agent_fraction": 0.4,
    "regime_aware_sizing": True,
}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count Alembic upgrades and new engines (the real methods still run)."""
    counts = {"upgrade": 0, "engines": 0}
    upgrade, init = Database.upgrade, Database.__init__

    def counting_upgrade(self: Database, revision: str = "head") -> None:
        counts["upgrade"] += 1
        upgrade(self, revision)

    def counting_init(self: Database, *args: Any, **kwargs: Any) -> None:
        counts["engines"] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(Database, "upgrade", counting_upgrade)
    monkeypatch.setattr(Database, "__init__", counting_init)
    return counts


@pytest.fixture
def started(make_settings: Callable[..., Settings], counted: dict[str, int]) -> Iterator[Container]:
    container = Container(make_settings(API_BEARER_TOKEN="tok"))
    container.db.upgrade()  # what API start-up (or `ai-trader db upgrade`) does once
    yield container
    container.close()


def test_backtests_through_the_api_never_migrate_nor_open_an_engine(
    started: Container, counted: dict[str, int]
) -> None:
    assert counted == {"upgrade": 1, "engines": 1}
    with TestClient(create_app(container=started), headers={"Authorization": "Bearer tok"}) as client:
        for _ in range(3):
            response = client.post("/backtests/run", json=BODY)
            assert response.status_code == 200, response.text
            assert response.json()["symbol"] == "AAPL"  # the shared request model normalises it
        assert counted == {"upgrade": 1, "engines": 1}
        with started.db.engine.connect() as conn:
            recorded = conn.execute(sa.text("SELECT count(*), min(source) FROM backtest_runs")).one()
    assert tuple(recorded) == (3, "api")


def test_the_lifespan_closes_the_clients_the_app_used(started: Container) -> None:
    with TestClient(create_app(container=started), headers={"Authorization": "Bearer tok"}) as client:
        body = {
            "symbol": "AAPL",
            "start": "2023-01-03T00:00:00Z",
            "strategy": "momentum",
            "offline_mode": True,
        }
        assert client.post("/router/run", json=body).status_code == 200
        assert "router" in started.built()
    assert started.built() == ()  # shut down: the pool, the bus and the broker were closed


def test_openapi_lists_a_typed_response_for_every_route(started: Container) -> None:
    with TestClient(create_app(container=started)) as client:
        spec = client.get("/openapi.json").json()
    untyped = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" not in schema and schema.get("type") != "array":
                untyped.append(f"{method.upper()} {path}: {schema}")
    assert untyped == []
    run = spec["paths"]["/backtests/run"]["post"]
    assert run["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "BacktestSummary"
    )
    assert run["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("BacktestRequest")
