"""A locally started API process (``ai-trader api``) on a free port, stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import free_port, wait_for

TOKEN = "router-test-token"


@contextlib.contextmanager
def api_process(data_dir: Path, **env: str) -> Iterator[str]:
    """Run ``python -m app.cli api`` with ``DATA_DIR=data_dir`` plus ``env``; yield its base URL."""
    port = free_port()
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))
    }
    child_env.update(
        DATA_DIR=str(data_dir),
        ARTIFACTS_DIR=str(data_dir / "artifacts"),
        API_BEARER_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
    )
    child_env.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    def live() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"API exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            return httpx.get(f"{url}/health/live", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(live, 30, "ai-trader api")
        yield url
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()
