"""Issue 16, bounds: requests above the limits are refused fast and cost the API no memory.

A real ``ai-trader api`` process gets router windows of millions of bars, sweep grids of 10^9
sets and a 20 MB chunked body; each answer must be a 422/413 problem in under a second and the
process's resident memory must not grow materially.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_for

TOKEN = "memory-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HUGE_ROUTER = {
    "symbol": "AAPL",
    "start": "1990-01-01",
    "strategy": "breakout",
    "interval": "1Min",
    "offline_mode": True,
}
HUGE_SWEEP = {
    "config_path": "configs/backtest/momentum_sweep.yaml",
    "overrides": {
        "params": {
            "lookback": {"min": 1, "max": 1_000_000, "step": 1},
            "threshold": {"min": 0, "max": 0.999, "step": 0.001},
        }
    },
}
RANDOM_SWEEP = {
    "config_path": "configs/backtest/momentum_sweep.yaml",
    "overrides": {
        "search": {"method": "random", "samples": 10_000_000},
        "params": {"lookback": {"dist": "int", "low": 1, "high": 1000}, "threshold": [0.0, 0.01]},
    },
}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))}
    env.update(
        DATA_DIR=str(tmp_path / "var"),
        ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        API_BEARER_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
    )
    repo = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def live() -> bool:
        assert proc.poll() is None, "the API exited"
        try:
            return httpx.get(f"{url}/health/live", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(live, 30, "ai-trader api")
        yield url, proc.pid
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response, time.perf_counter() - started


def test_requests_above_the_limits_are_fast_422s_without_memory_growth(api: tuple[str, int]) -> None:
    url, pid = api
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        for body, path in ((HUGE_ROUTER, "/router/run"), (HUGE_SWEEP, "/backtests/sweeps/jobs")):
            assert client.post(path, json=body).status_code == 422  # warm up imports and caches
        assert client.post("/backtests/sweeps/jobs", json=RANDOM_SWEEP).status_code == 422
        before = _rss_kib(pid)
        slowest = 0.0
        for _ in range(10):
            for path, body, fragment in (
                ("/router/run", HUGE_ROUTER, "ROUTER_MAX_BARS"),
                ("/backtests/sweeps/jobs", HUGE_SWEEP, "SWEEP_MAX_SETS"),
                ("/backtests/sweeps/jobs", RANDOM_SWEEP, "SWEEP_MAX_SETS"),
            ):
                response, elapsed = _timed(client, "POST", path, json=body)
                assert response.status_code == 422, response.text
                assert fragment in response.json()["detail"]
                slowest = max(slowest, elapsed)

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b" " * 1_000_000

        too_big, elapsed = _timed(
            client, "POST", "/router/run", content=chunks(), headers={"content-type": "application/json"}
        )
        assert too_big.status_code == 413
        slowest = max(slowest, elapsed)
        after = _rss_kib(pid)
    assert slowest < 1.0, f"slowest refusal took {slowest:.3f} s"
    assert after - before < 20 * 1024, f"RSS grew by {(after - before) / 1024:.1f} MiB"
