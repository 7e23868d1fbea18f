"""``ai-trader api`` and ``ai-trader up`` keep serving while PostgreSQL is down at start, and
take the database into use when it appears."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from tests import servers
from tests.servers import REPO, free_port, wait_for


@contextmanager
def _process(args: list[str], data_dir: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))
    }
    child_env.update(DATA_DIR=str(data_dir), ARTIFACTS_DIR=str(data_dir / "artifacts"), LOG_LEVEL="WARNING")
    child_env.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # `up` has children: stop the whole group by its id
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None


@pytest.mark.parametrize("command", ["api", "up"])
def test_serves_without_the_database_and_takes_it_into_use_when_it_appears(
    postgres: servers.Server, tmp_path: Path, command: str
) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"  # does not exist yet: every connection is refused
    admin = f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    port = free_port()
    args = (
        ["api", "--port", str(port)]
        if command == "api"
        else ["up", "--only", "api", "--only", "order-consumer"]
    )
    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{postgres.port}/{name}", "PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    try:
        with _process(args, tmp_path / "var", env) as proc:

            def live() -> bool:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                response = _get(f"{base}/health/live")
                return response is not None and response.status_code == 200

            wait_for(live, 30, f"ai-trader {command} live")
            started = time.monotonic()
            ready = _get(f"{base}/health/ready")
            assert ready is not None and time.monotonic() - started < 3.0
            assert ready.status_code == 503
            assert "database" in ready.json()["failing"]
            time.sleep(1.0)
            assert proc.poll() is None  # still serving, not restarting in a loop

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')

            def database_ready() -> bool:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                response = _get(f"{base}/health/ready")
                return response is not None and "database" not in response.json().get("failing", [])

            wait_for(database_ready, 45, "the database taken into use")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
