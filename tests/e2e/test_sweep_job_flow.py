"""The runbook's sweep flow end to end, with real processes.

POST /backtests/sweeps/jobs -> scripts/sweep_job_consumer.py dispatches it as a local
subprocess -> scripts/sweep_job_entry.py runs the sweep -> GET shows it completed with its
leaderboard. And the runbook's env-var command, exactly as written, produces summary.jsonl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer e2e-token"}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATA_DIR": str(tmp_path / "var"),
            "ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "LOG_LEVEL": "INFO",
            **extra,
        }
    )
    return env


def test_post_consume_dispatch_run_and_get_completed(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATA_DIR=tmp_path / "var",
        ARTIFACTS_DIR=tmp_path / "artifacts",
        API_BEARER_TOKEN="e2e-token",
    )
    services = Container(settings)
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        created = client.post(
            "/backtests/sweeps/jobs",
            json={
                "config_path": "configs/backtest/momentum_sweep.yaml",
                "strategy": "momentum",
                "symbol": "GOOG",
            },
            headers=AUTH,
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["job_id"]

        consumer = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "sweep_job_consumer.py"), "IDLE_EXIT_SECONDS=1"],
            env=_env(tmp_path),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert consumer.returncode == 0, consumer.stderr[-3000:]
        assert "sweep job dispatched" in consumer.stderr

        detail = client.get(f"/backtests/sweeps/jobs/{job_id}", headers=AUTH).json()
        log = (tmp_path / "var" / "sweep-jobs" / f"{job_id}.log").read_text()
        assert detail["status"] == "completed", (detail, log[-3000:])
        assert detail["execution_name"].startswith("local-")
        assert detail["dispatched_at"] and detail["started_at"] and detail["finished_at"]
        assert detail["summary"]["ok"] == 144
        assert len(detail["leaderboard"]) == 10 and detail["leaderboard"][0]["rank"] == 1
        assert client.get("/backtests/sweeps/jobs", headers=AUTH).json()["counts"]["completed"] == 1
        output = Path(detail["output_dir"])
        assert (output / "summary.jsonl").is_file() and (output / "leaderboard.csv").is_file()
    manifest = tmp_path / "artifacts" / "probabilistic" / "frames" / "manifest.jsonl"
    assert json.loads(manifest.read_text().splitlines()[-1])["source"] == "sweep"


def test_the_runbook_command_writes_summary_jsonl(tmp_path: Path) -> None:
    workdir = tmp_path / "checkout"
    (workdir / "configs" / "backtest").mkdir(parents=True)
    shutil.copy(REPO / "configs" / "backtest" / "momentum_sweep.yaml", workdir / "configs" / "backtest")
    env = _env(
        tmp_path,
        SWEEP_CONFIG_PATH="configs/backtest/momentum_sweep.yaml",
        OUTPUT_DIR="artifacts/backtests/momentum",
    )
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sweep_job_entry.py")],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = workdir / "artifacts" / "backtests" / "momentum" / "summary.jsonl"
    rows = [json.loads(line) for line in summary.read_text().splitlines()]
    assert len(rows) == 144 and all(r["status"] == "ok" for r in rows)
    assert (summary.parent / "leaderboard.csv").is_file()


def test_a_bad_config_exits_2_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nsymbols: [GOOG]\nstart: 2020-01-01\nend: 2020-02-01\nstrategy: momentum\nfill: later\n"
    )
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sweep_job_entry.py")],
        env=_env(tmp_path, SWEEP_CONFIG_PATH=str(bad), OUTPUT_DIR=str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert f"{bad}:6:7: fill:" in done.stderr
