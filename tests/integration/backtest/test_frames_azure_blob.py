"""Probabilistic frames shared across hosts through Azure Blob (Azurite).

Each "host" is its own DATA_DIR / ARTIFACTS_DIR; they share only the blob container.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.backtest.frames import MANIFEST_NAME, frames_blob_enabled, read_manifest
from app.backtest.service import BacktestRequest, run_request, summary_json
from app.backtest.sweeps import parse_sweep_config, run_sweep
from app.bootstrap import (
    Container,
    build_backtest_deps,
    build_blob_frames,
    build_market_data,
    build_sweep_deps,
)
from app.config import Settings
from app.ui.frames import load_entry, merge_manifests
from app.ui.frames import read_manifest as read_local_listing
from tests.servers import Server, free_port

REQUEST = BacktestRequest(
    symbol="AAPL",
    start=date(2023, 1, 3),
    end=date(2023, 2, 3),
    strategy="momentum",
    dal_vendor="synthetic",
    use_probabilistic=True,
    risk_agent="fractional_kelly",
    risk_agent_fraction=0.4,
)


@pytest.fixture
def container() -> str:
    return f"frames-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def host(
    make_settings: Callable[..., Settings], azurite: Server, tmp_path: Path, container: str
) -> Callable[..., Settings]:
    """Settings of one host (own disk) on the shared Azurite container."""

    def build(name: str, **more: Any) -> Settings:
        root = tmp_path / name
        values: dict[str, Any] = {
            "AZURE_STORAGE_CONNECTION_STRING": azurite.extra["connection_string"],
            "BLOB_CONTAINER_DATA": container,
            "DATA_DIR": root / "var",
            "ARTIFACTS_DIR": root / "artifacts",
            "BACKTEST_NO_SAVE": True,
        }
        return make_settings(**{**values, **more})

    return build


@pytest.fixture
def api(host: Callable[..., Settings]) -> Iterator[tuple[TestClient, Settings]]:
    services = Container(host("api", API_BEARER_TOKEN="tok"))
    with TestClient(create_app(container=services), headers={"Authorization": "Bearer tok"}) as client:
        yield client, services.settings
    services.close()


def _body() -> dict[str, Any]:
    return {
        "symbol": "AAPL",
        "start": "2023-01-03",
        "end": "2023-02-03",
        "strategy": "momentum",
        "use_probabilistic": True,
        "dal_vendor": "synthetic",
        "risk_agent": "fractional_kelly",
        "risk_agent_fraction": 0.4,
    }


def test_api_backtest_writes_the_local_frame_and_publishes_it(
    api: tuple[TestClient, Settings], container: str
) -> None:
    client, settings = api
    assert frames_blob_enabled(settings)
    response = client.post("/backtests/run", json=_body())
    assert response.status_code == 200, response.text
    summary = response.json()
    local = Path(summary["prob_frame_path"])
    assert local == settings.frames_dir / "AAPL_momentum_synthetic_1day.parquet" and local.is_file()
    uri = summary["prob_frame_blob_uri"]
    assert uri == (
        f"blob://{container}/probabilistic/frames/runs/{summary['run_id']}/AAPL_momentum_synthetic_1day.parquet"
    )
    assert summary["prob_frame_blob_error"] is None
    (line,) = read_manifest(settings.frames_dir / MANIFEST_NAME)
    assert line["blob_path"] == uri and line["source"] == "api" and line["run_id"] == summary["run_id"]
    blob = build_blob_frames(settings)
    pd.testing.assert_frame_equal(blob.load(uri), pd.read_parquet(local))
    (record,) = blob.records()
    assert record == line


def test_a_second_host_lists_and_loads_the_frame(
    api: tuple[TestClient, Settings], host: Callable[..., Settings]
) -> None:
    client, api_settings = api
    summary = client.post("/backtests/run", json=_body()).json()
    dashboard = host("dashboard")
    assert not dashboard.frames_dir.exists()
    blob = build_blob_frames(dashboard)
    local_entries = read_local_listing(dashboard.frames_dir / MANIFEST_NAME)
    (entry,) = merge_manifests(local_entries, blob.records())
    assert entry["origin"] == "blob" and entry["run_id"] == summary["run_id"] and entry["source"] == "api"
    frame, where = load_entry(entry, base=dashboard.frames_dir, blob=blob)
    assert where == summary["prob_frame_blob_uri"]
    assert len(frame) == summary["bars"] == 24
    pd.testing.assert_frame_equal(frame, pd.read_parquet(api_settings.frames_dir / Path(where).name))
    # on the API host itself the same write is one entry, read from the local file
    (own,) = merge_manifests(read_local_listing(api_settings.frames_dir / MANIFEST_NAME), blob.records())
    assert own["origin"] == "local+blob"
    assert load_entry(own, blob=blob)[1] == summary["prob_frame_path"]


def test_two_hosts_writing_the_same_frame_name_keep_both_runs(host: Callable[..., Settings]) -> None:
    first_host, second_host = host("cli-a"), host("cli-b")
    first = run_request(first_host, REQUEST, build_backtest_deps(first_host), source="cli")
    second = run_request(second_host, REQUEST, build_backtest_deps(second_host), source="cli")
    assert Path(first.frame.path).name == Path(second.frame.path).name
    assert first.frame.blob_path != second.frame.blob_path
    listed = build_blob_frames(host("viewer")).records()
    assert [r["run_id"] for r in listed] == [second.run_id, first.run_id]
    assert {r["host"] for r in listed} and all(r["blob_error"] is None for r in listed)


def test_a_sweep_job_publishes_its_best_frame(host: Callable[..., Settings], tmp_path: Path) -> None:
    config = parse_sweep_config(
        "name: blob_sweep\nsymbols: [GOOG]\nvendor: sample\nstart: 2010-01-04\nend: 2012-12-31\n"
        "strategy: sma_cross\nparams: {fast: [5, 10], slow: [30]}\n"
    )
    job = host("sweep-job", SWEEP_JOB_ID="job-1")
    result = run_sweep(config, tmp_path / "sweep-out", settings=job, deps=build_sweep_deps(job))
    assert result.frame_path is not None and Path(result.frame_path).is_file()
    (record,) = build_blob_frames(host("viewer")).records()
    assert record["source"] == "sweep" and record["job_id"] == "job-1" and record["sweep"] == "blob_sweep"
    assert record["blob_path"].endswith(f"/{Path(result.frame_path).name}")


def test_blob_down_keeps_the_local_frame_and_records_the_warning(
    make_settings: Callable[..., Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture, azurite: Server
) -> None:
    dead = azurite.extra["connection_string"].replace(f":{azurite.port}/", f":{free_port()}/")
    assert dead != azurite.extra["connection_string"]
    settings = make_settings(
        AZURE_STORAGE_CONNECTION_STRING=dead, FRAMES_BLOB_TIMEOUT_S=1, BACKTEST_NO_SAVE=True
    )
    bars = build_market_data(make_settings())  # the DAL cache stays on local disk
    run = run_request(settings, REQUEST, build_backtest_deps(settings, market_data=bars), source="api")
    assert Path(run.frame.path).is_file()
    assert run.frame.blob_path is None
    assert run.frame.blob_error is not None and "did not finish within 1 s" in run.frame.blob_error
    summary = summary_json(run)
    assert summary["prob_frame_blob_uri"] is None and summary["prob_frame_blob_error"] == run.frame.blob_error
    (line,) = read_manifest(settings.frames_dir / MANIFEST_NAME)
    assert line["blob_path"] is None and line["blob_error"] == run.frame.blob_error
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "not published" in r.getMessage()]
    assert len(warnings) == 1 and run.frame.blob_error in warnings[0].getMessage()


def test_blob_rejecting_the_write_is_recorded_with_its_reason(
    host: Callable[..., Settings], azurite: Server, caplog: pytest.LogCaptureFixture
) -> None:
    conn = azurite.extra["connection_string"]
    key = next(part for part in conn.split(";") if part.startswith("AccountKey="))
    wrong = conn.replace(key, "AccountKey=" + "A" * 86 + "==")
    bars = build_market_data(host("local-dal", AZURE_STORAGE_CONNECTION_STRING=None))
    api_host = host("api", AZURE_STORAGE_CONNECTION_STRING=wrong)
    run = run_request(api_host, REQUEST, build_backtest_deps(api_host, market_data=bars))
    assert Path(run.frame.path).is_file() and run.frame.blob_path is None
    assert run.frame.blob_error is not None and run.frame.blob_error.startswith("StorageError: cannot")
    assert "not published" in caplog.text
    assert (
        json.loads(Path(run.frame.path).with_name(MANIFEST_NAME).read_text())["blob_error"]
        == run.frame.blob_error
    )
