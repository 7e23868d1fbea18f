"""Issue 16: API-submitted sweeps may not choose server files nor run above the limits."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.backtest.sweeps import run_sweep
from app.backtest.sweeps.config import parse_sweep_config
from app.backtest.sweeps.grid import check_sweep_size, count_sets
from app.bootstrap import Container, build_sweep_deps
from app.config import Settings
from app.errors import InputError
from app.storage.blob import parse_blob_uri

CONFIG = "configs/backtest/momentum_sweep.yaml"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def client_for(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    opened: list[tuple[Container, TestClient]] = []

    def build(**values: object) -> TestClient:
        services = Container(make_settings(**values))
        services.db.upgrade()
        client = TestClient(create_app(container=services))
        client.__enter__()
        opened.append((services, client))
        return client

    yield build
    for services, client in opened:
        client.__exit__(None, None, None)
        services.close()


def _post(client: TestClient, body: dict[str, object]) -> tuple[int, str]:
    response = client.post("/backtests/sweeps/jobs", json=body)
    return response.status_code, response.json().get("detail", "") if response.status_code != 201 else ""


def test_overrides_may_not_read_server_files(client_for: Callable[..., TestClient], tmp_path: Path) -> None:
    client = client_for()
    existing = tmp_path / "prices.csv"
    existing.write_text("timestamp,open,high,low,close,volume\n", encoding="utf-8")
    answers = {
        path: _post(client, {"config_path": CONFIG, "overrides": {"vendor": "file", "data_path": path}})
        for path in (str(existing), str(tmp_path / "missing.csv"), "/etc/passwd.csv")
    }
    assert {status for status, _ in answers.values()} == {422}
    details = [detail.replace(path, "<p>") for path, (_, detail) in answers.items()]
    assert len(set(details)) == 1, details  # the same answer whether the file exists or not
    assert "no folder is allowed" in details[0]


def test_data_roots_allow_only_files_under_them(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    root = tmp_path / "allowed"
    root.mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text("x\n", encoding="utf-8")
    client = client_for(SWEEP_DATA_ROOTS=str(root))
    status, detail = _post(
        client, {"config_path": CONFIG, "overrides": {"vendor": "file", "data_path": str(outside)}}
    )
    assert (
        status == 422 and "under allowed/" in detail and str(tmp_path) not in detail.replace(str(outside), "")
    )
    escape = f"{root}/../outside.csv"
    assert _post(client, {"config_path": CONFIG, "overrides": {"data_path": escape}})[0] == 422


@pytest.mark.parametrize(
    "config_path",
    [
        "configs/backtest/\x00momentum_sweep.yaml",
        "configs/" + "a" * 5000 + ".yaml",
        "/etc/hosts",
        "../x.yaml",
    ],
)
def test_bad_config_paths_are_422_without_server_paths(
    client_for: Callable[..., TestClient], config_path: str
) -> None:
    status, detail = _post(client_for(), {"config_path": config_path})
    assert status == 422
    assert str(Path.cwd()) not in detail


@pytest.mark.parametrize(
    "uri",
    ["blob://../bus.db", "blob://configs/../bus.db", "blob://trader-data/x.yaml", "blob://Configs/x.yaml",
     "blob://configs//x.yaml", "blob://co/x.yaml"],
)  # fmt: skip
def test_config_blob_must_name_an_allowed_container_and_a_plain_key(
    client_for: Callable[..., TestClient], uri: str
) -> None:
    assert _post(client_for(), {"config_blob": uri})[0] == 422


def test_blob_uris_escaping_their_container_are_refused_everywhere() -> None:
    for uri in ("blob://../bus.db", "blob://configs/a/../../bus.db", "blob://UPPER/x"):
        with pytest.raises(InputError):
            parse_blob_uri(uri)
    assert parse_blob_uri("blob://configs/sweeps/a.yaml") == ("configs", "sweeps/a.yaml")


def test_unknown_strategy_is_refused_at_enqueue(client_for: Callable[..., TestClient]) -> None:
    status, detail = _post(client_for(), {"config_path": CONFIG, "strategy": "astrology"})
    assert status == 422 and "unknown strategy 'astrology'" in detail


def test_a_huge_grid_is_refused_with_its_count(client_for: Callable[..., TestClient]) -> None:
    huge = {"params": {"lookback": {"min": 1, "max": 1_000_000, "step": 1}, "threshold": [0.0, 0.01, 0.02]}}
    status, detail = _post(client_for(SWEEP_MAX_SETS=1000), {"config_path": CONFIG, "overrides": huge})
    assert status == 422
    assert "3,000,000 runs" in detail and "SWEEP_MAX_SETS" in detail


def test_too_many_workers_are_refused(client_for: Callable[..., TestClient]) -> None:
    body = {"config_path": CONFIG, "overrides": {"execution": {"workers": 512}}}
    status, detail = _post(client_for(), body)
    assert status == 422 and "execution.workers" in detail


def test_counts_without_building_sets() -> None:
    text = """
name: s
symbols: [A, B]
start: 2020-01-01
end: 2020-02-01
strategy: momentum
params: {lookback: {min: 1, max: 1000000, step: 1}, threshold: {dist: uniform, low: 0, high: 1}}
search: {method: random, samples: 10000000}
"""
    config = parse_sweep_config(text)
    assert count_sets(config) == 10_000_000
    with pytest.raises(InputError, match=r"20,000,000 runs"):
        check_sweep_size(config, 100_000)


def test_run_sweep_refuses_above_the_limit_before_running(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    config = parse_sweep_config(
        "name: s\nsymbols: [GOOG]\nvendor: sample\nstart: 2010-01-04\nend: 2010-03-01\nstrategy: momentum\n"
        "params: {lookback: {min: 1, max: 100000, step: 1}, threshold: [0.0, 0.1]}\n"
    )
    with pytest.raises(InputError, match=r"200,000 runs"):
        settings = make_settings(SWEEP_MAX_SETS=1000)
        run_sweep(config, tmp_path / "out", settings=settings, deps=build_sweep_deps(settings))
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_huge_grid_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "huge.yaml"
    config.write_text(
        "name: huge\nsymbols: [GOOG]\nvendor: sample\nstart: 2010-01-04\nend: 2010-03-01\n"
        "strategy: momentum\n"
        "params: {lookback: {min: 1, max: 1000000, step: 1}, threshold: [0.0, 0.1, 0.2]}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        SWEEP_CONFIG_PATH=str(config), OUTPUT_DIR=str(tmp_path / "out"), DATA_DIR=str(tmp_path / "var")
    )
    done = subprocess.run(
        [sys.executable, "scripts/sweep_job_entry.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "3,000,000 runs" in done.stderr and "Traceback" not in done.stderr
