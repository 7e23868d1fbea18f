"""Sweep jobs through the API and the registry on SQLite and PostgreSQL, with the entry point's lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.backtest.sweeps.jobs import JOB_EVENT_TYPE, SweepJobService
from app.bootstrap import Container
from app.bus.ports import Bus
from app.config import Settings
from app.workers.sweep_job_entry import _run


def run_entry(settings: Settings) -> int:
    """The sweep job's body on its own container (as ``ai-trader sweep run`` builds it)."""
    with Container(settings) as container:
        return _run(container)


CONFIG = "configs/backtest/momentum_sweep.yaml"
AUTH = {"Authorization": "Bearer sweep-token"}


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(DATABASE_URL=database_url, API_BEARER_TOKEN="sweep-token")


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    services = Container(api_settings)
    services.db.upgrade()
    with TestClient(create_app(container=services)) as test_client:
        yield test_client


def test_post_queues_publishes_and_lists(client: TestClient, api_settings: Settings, bus: Bus) -> None:
    assert client.post("/backtests/sweeps/jobs", json={"config_path": CONFIG}).status_code == 401
    created = client.post(
        "/backtests/sweeps/jobs",
        json={
            "config_path": CONFIG,
            "strategy": "momentum",
            "symbol": "goog",
            "overrides": {"initial_cash": 5000},
        },
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "queued" and job["symbol"] == "GOOG" and job["strategy"] == "momentum"
    assert job["config"]["initial_cash"] == 5000
    assert job["config_blob"] == f"blob://configs/sweeps/{job['job_id']}.yaml"

    consumer = bus.consumer(api_settings.EH_HUB_JOBS, "diagnostics")
    events = consumer.poll(timeout_s=0.5)
    consumer.close()
    assert [(e.envelope.type, e.envelope.partition_key) for e in events if e.envelope] == [
        (JOB_EVENT_TYPE, job["job_id"])
    ]
    listing = client.get("/backtests/sweeps/jobs", headers=AUTH).json()
    assert listing["total"] == 1
    assert listing["counts"] == {"queued": 1, "dispatched": 0, "running": 0, "completed": 0, "failed": 0}
    assert client.get("/backtests/sweeps/jobs?status=running", headers=AUTH).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"config_path": "../etc/passwd"}, "must name a .yaml/.yml file under configs/"),
        ({"config_path": "configs/backtest/nope.yaml"}, "does not name a readable file under configs/"),
        ({"config_path": CONFIG, "overrides": {"objective": {"metric": "luck"}}}, "unknown metric 'luck'"),
        ({"config_blob": "blob://configs/missing.yaml"}, "blob not found"),
    ],
)
def test_bad_submissions_are_422_problems(client: TestClient, body: dict[str, object], fragment: str) -> None:
    response = client.post("/backtests/sweeps/jobs", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


def test_line_numbers_reach_the_api_for_a_bad_blob_config(client: TestClient, api_settings: Settings) -> None:
    services: Container = client.app.state.container  # type: ignore[attr-defined]
    services.blob.put_text(
        "configs", "bad.yaml", "name: bad\nsymbols: [GOOG]\nstart: 2020-01-01\nend: 2020-02-01\n"
    )
    response = client.post(
        "/backtests/sweeps/jobs", json={"config_blob": "blob://configs/bad.yaml"}, headers=AUTH
    )
    assert response.status_code == 422
    assert "blob://configs/bad.yaml:1:1: strategy: Field required" in response.json()["detail"]


def test_unknown_job_is_404(client: TestClient) -> None:
    response = client.get("/backtests/sweeps/jobs/nope", headers=AUTH)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_entry_moves_the_job_to_completed_with_results(
    client: TestClient, api_settings: Settings, service: SweepJobService
) -> None:
    job = client.post("/backtests/sweeps/jobs", json={"config_path": CONFIG}, headers=AUTH).json()
    assert service.claim(job["job_id"]) is True
    assert service.claim(job["job_id"]) is False
    entry_settings = api_settings.model_copy(
        update={"SWEEP_JOB_ID": job["job_id"], "SWEEP_CONFIG_BLOB": job["config_blob"]}
    )
    assert run_entry(entry_settings) == 0
    detail = client.get(f"/backtests/sweeps/jobs/{job['job_id']}?top=5", headers=AUTH).json()
    assert detail["status"] == "completed"
    assert detail["output_dir"].endswith(f"backtests/sweeps/{job['job_id']}")
    assert detail["started_at"] and detail["finished_at"]
    assert detail["summary"]["ok"] == 144 and detail["summary"]["status"] == "completed"
    board = detail["leaderboard"]
    assert len(board) == 5 and [row["rank"] for row in board] == [1, 2, 3, 4, 5]
    sharpes = [row["sharpe"] for row in board]
    assert sharpes == sorted(sharpes, reverse=True)
    counts = client.get("/backtests/sweeps/jobs", headers=AUTH).json()["counts"]
    assert counts["completed"] == 1


def test_entry_records_a_failure(
    api_settings: Settings, service: SweepJobService, client: TestClient
) -> None:
    job = client.post("/backtests/sweeps/jobs", json={"config_path": CONFIG}, headers=AUTH).json()
    services: Container = client.app.state.container  # type: ignore[attr-defined]
    services.blob.put_text("configs", "broken.yaml", "name: broken\nsymbols: [GOOG]\n")
    entry_settings = api_settings.model_copy(
        update={"SWEEP_JOB_ID": job["job_id"], "SWEEP_CONFIG_BLOB": "blob://configs/broken.yaml"}
    )
    with pytest.raises(Exception, match="invalid sweep config"):
        run_entry(entry_settings)
    failed = service.get(job["job_id"])
    assert failed.status == "failed" and "strategy: Field required" in (failed.error or "")
