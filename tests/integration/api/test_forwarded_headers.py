"""Issue 16: ``X-Forwarded-*`` is trusted only from the proxies in ``FORWARDED_ALLOW_IPS``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_for

REPO = Path(__file__).resolve().parents[3]


def _client_seen(tmp_path: Path, **env: str) -> str:
    """Start ``ai-trader api``, send one request claiming another client, return who it logged."""
    port = free_port()
    child = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    child.update(DATA_DIR=str(tmp_path / "var"), ARTIFACTS_DIR=str(tmp_path / "a"), LOG_LEVEL="INFO", **env)
    log = tmp_path / "api.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=child, stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"

        def live() -> bool:
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            try:
                return httpx.get(f"{url}/health/live", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(live, 30, "ai-trader api")
            headers = {
                "X-Forwarded-For": "203.0.113.9",
                "X-Forwarded-Proto": "https",
                "X-Request-ID": "fwd-1",
            }
            assert httpx.get(f"{url}/health/live", headers=headers, timeout=5).status_code == 200
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("request_id") == "fwd-1" and record.get("logger") == "app.api.access":
                return str(record["client"])
    pytest.fail("no access log line for the request")


def test_forwarded_for_is_ignored_from_an_untrusted_peer(tmp_path: Path) -> None:
    assert _client_seen(tmp_path, FORWARDED_ALLOW_IPS="10.1.2.3") == "127.0.0.1"


def test_forwarded_for_is_used_from_a_trusted_proxy(tmp_path: Path) -> None:
    assert _client_seen(tmp_path) == "203.0.113.9"  # default: the loopback proxy only
