"""The README's first command, as a newcomer runs it: `ai-trader up` on embedded defaults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import free_port, wait_for


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "API_BEARER_TOKEN")}
    env.update({"DATA_DIR": str(tmp_path / "var"), "ARTIFACTS_DIR": str(tmp_path / "artifacts"), **extra})
    return env


def test_up_serves_health_docs_and_index_then_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--only", "api"],
        env=_env(tmp_path, PORT=str(port)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answering() -> bool:
            try:
                return httpx.get(f"{base}/health/live", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answering, 30, "ai-trader up")
        for path in ("/", "/health/live", "/health/ready", "/docs", "/openapi.json"):
            assert httpx.get(base + path, timeout=5).status_code == 200, path
        assert (tmp_path / "var" / "ai-trader.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}" in output.decode()


def test_db_upgrade_twice_and_config_show(tmp_path: Path) -> None:
    env = _env(tmp_path, API_BEARER_TOKEN="very-secret", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "db", "upgrade"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert "revision" in done.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "app.cli", "config", "show", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0
    assert "very-secret" not in shown.stdout
    assert '"API_BEARER_TOKEN": "***"' in shown.stdout
    assert '"kind": "sqlite"' in shown.stdout


def test_bad_setting_exits_2_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "config", "show"],
        env=_env(tmp_path, PORT="-5"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "PORT" in lines[0]


def test_open_api_on_public_interface_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "api", "--host", "0.0.0.0"],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "API_BEARER_TOKEN" in done.stderr
