"""Issue 16: failures reported as failures. An all-failed sweep is ``failed`` with its first
errors (runner, registry, API); a job whose worker died is detected by its lease and failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.backtest.sweeps import run_sweep
from app.backtest.sweeps.config import parse_sweep_config
from app.backtest.sweeps.jobs import JobHeartbeat, SweepJobService
from app.bootstrap import Container, build_sweep_deps
from app.config import Settings
from app.workers.sweep_job_entry import _run

REPO = Path(__file__).resolve().parents[3]
AUTH = {"Authorization": "Bearer sweep-token"}
NO_DATA = (
    "name: no_data\nsymbols: [NODATA]\nvendor: sample\nstart: 2010-01-04\nend: 2010-06-01\n"
    "strategy: momentum\nparams: {lookback: [5, 10], threshold: [0.0, 0.01]}\n"
)


def run_entry(settings: Settings) -> int:
    """The sweep job's body on its own container (as ``ai-trader sweep run`` builds it)."""
    with Container(settings) as container:
        return _run(container)


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(DATABASE_URL=database_url, API_BEARER_TOKEN="sweep-token", SWEEP_JOB_LEASE_S=5)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    services = Container(api_settings)
    services.db.upgrade()
    with TestClient(create_app(container=services)) as test_client:
        yield test_client
    services.close()


def test_runner_reports_an_all_failed_sweep_as_failed(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    result = run_sweep(
        parse_sweep_config(NO_DATA), tmp_path / "out", settings=settings, deps=build_sweep_deps(settings)
    )
    assert (result.status, result.ok, result.failed) == ("failed", 0, 4)
    assert result.errors and "NODATA" in result.errors[0]
    run = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert run["status"] == "failed" and run["errors"] == result.errors


def test_failure_ratio_is_configurable(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    two = NO_DATA.replace("[NODATA]", "[GOOG, NODATA]")
    lenient, ratio = make_settings(), make_settings(SWEEP_FAILURE_RATIO=0.5)
    half = run_sweep(
        parse_sweep_config(two), tmp_path / "a", settings=lenient, deps=build_sweep_deps(lenient)
    )
    assert half.status == "completed" and half.failed == 4 and half.ok == 4
    strict = run_sweep(parse_sweep_config(two), tmp_path / "b", settings=ratio, deps=build_sweep_deps(ratio))
    assert strict.status == "failed"


def test_entry_and_api_show_an_all_failed_sweep_as_failed(client: TestClient, api_settings: Settings) -> None:
    services: Container = client.app.state.container  # type: ignore[attr-defined]
    services.blob.put_text("configs", "no-data.yaml", NO_DATA)
    job = client.post(
        "/backtests/sweeps/jobs", json={"config_blob": "blob://configs/no-data.yaml"}, headers=AUTH
    )
    assert job.status_code == 201, job.text
    job_id = job.json()["job_id"]
    entry = api_settings.model_copy(
        update={"SWEEP_JOB_ID": job_id, "SWEEP_CONFIG_BLOB": job.json()["config_blob"]}
    )
    assert run_entry(entry) == 1
    detail = client.get(f"/backtests/sweeps/jobs/{job_id}", headers=AUTH).json()
    assert detail["status"] == "failed"
    assert "4 of 4 runs failed" in detail["error"] and "NODATA" in detail["error"]
    assert client.get("/backtests/sweeps/jobs", headers=AUTH).json()["counts"]["failed"] == 1


def test_a_heartbeat_keeps_a_running_job_alive_and_silence_fails_it(
    client: TestClient, api_settings: Settings
) -> None:
    services: Container = client.app.state.container  # type: ignore[attr-defined]
    service = SweepJobService(api_settings, services.db, services.blob, services.bus)
    created = client.post(
        "/backtests/sweeps/jobs", json={"config_path": "configs/backtest/momentum_sweep.yaml"}, headers=AUTH
    )
    alive, dead = (
        created.json()["job_id"],
        client.post(
            "/backtests/sweeps/jobs",
            json={"config_path": "configs/backtest/momentum_sweep.yaml"},
            headers=AUTH,
        ).json()["job_id"],
    )
    service.mark_running(alive, "out-a")
    service.mark_running(dead, "out-b")
    with JobHeartbeat(service, alive):
        time.sleep(6.5)
        assert service.expire_stale() == [dead]
    assert service.get(alive).status == "running"
    failed = client.get(f"/backtests/sweeps/jobs/{dead}", headers=AUTH).json()
    assert failed["status"] == "failed" and "SWEEP_JOB_LEASE_S" in failed["error"]


def test_a_killed_sweep_worker_is_detected_and_failed(
    client: TestClient, api_settings: Settings, tmp_path: Path, database_url: str
) -> None:
    services: Container = client.app.state.container  # type: ignore[attr-defined]
    services.blob.put_text(
        "configs",
        "long.yaml",
        "name: long\nsymbols: [GOOG]\nvendor: sample\nstart: 2005-01-03\nend: 2013-03-01\n"
        "strategy: momentum\n"
        "params: {lookback: {min: 2, max: 400, step: 1}, threshold: {min: 0, max: 0.1, step: 0.001}}\n"
        "execution: {backend: local}\n",
    )
    job = client.post(
        "/backtests/sweeps/jobs", json={"config_blob": "blob://configs/long.yaml"}, headers=AUTH
    ).json()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=database_url,
        DATA_DIR=str(api_settings.DATA_DIR),
        ARTIFACTS_DIR=str(tmp_path / "worker"),
        SWEEP_JOB_ID=job["job_id"],
        SWEEP_CONFIG_BLOB=job["config_blob"],
        SWEEP_JOB_LEASE_S="5",
    )
    worker = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "sweep_job_entry.py")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (
                client.get(f"/backtests/sweeps/jobs/{job['job_id']}", headers=AUTH).json()["status"]
                == "running"
            ):
                break
            assert worker.poll() is None, "the worker ended before it was killed"
            time.sleep(0.1)
        else:
            pytest.fail("the job never started running")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert client.get(f"/backtests/sweeps/jobs/{job['job_id']}", headers=AUTH).json()["status"] == "running"
    time.sleep(5.5)
    detail = client.get(f"/backtests/sweeps/jobs/{job['job_id']}", headers=AUTH).json()
    assert detail["status"] == "failed" and "died or was killed" in detail["error"]
