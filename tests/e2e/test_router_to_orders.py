"""Router -> exec.orders -> order consumer -> GET /orders, as separate processes.

The API (``ai-trader api``) and ``scripts/order_consumer.py`` run as the runbook starts them,
sharing the embedded SQLite database and local bus under one ``DATA_DIR``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.router.conftest import TOKEN, api_process
from tests.servers import REPO

AUTH = {"Authorization": f"Bearer {TOKEN}"}
RUN = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "end": "2026-11-20T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": False,
}


def _wait_for_order(url: str, ref: str, want: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/orders/{ref}", headers=AUTH, timeout=5)
        if response.status_code == 200:
            last = response.json()
            if last["status"] == want:
                return last
        time.sleep(0.1)
    raise AssertionError(f"order {ref} did not reach {want!r}; last seen {last or 'nothing'}")


def test_router_run_then_consumer_then_get_orders_shows_the_order_and_its_fills(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))}
    env.update(DATA_DIR=str(data_dir), ARTIFACTS_DIR=str(tmp_path / "artifacts"), LOG_LEVEL="WARNING")
    # the run's intent is a sell: the fresh paper account fills it only with shorting on
    with api_process(data_dir, SIM_ALLOW_SHORT="1") as url:
        published = httpx.post(f"{url}/router/run", json=RUN, headers=AUTH, timeout=60)
        assert published.status_code == 200, published.text
        intent = published.json()["intent"]
        assert published.json()["published"] is True

        consumer = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "scripts" / "order_consumer.py"),
                "EH_HUB_ORDERS=exec.orders",
                "EH_CONSUMER_GROUP=orchestrator",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            order = _wait_for_order(url, intent["client_order_id"], "new")
            assert order["symbol"] == "AAPL" and order["fills"] == []
            listed = httpx.get(f"{url}/orders", params={"limit": 20}, headers=AUTH, timeout=5).json()
            assert [o["client_order_id"] for o in listed["items"]] == [intent["client_order_id"]]

            executed = httpx.post(
                f"{url}/router/run", json=RUN | {"execute_orders": True}, headers=AUTH, timeout=60
            ).json()
            assert executed["executed"] is True, executed
            report = executed["execution"]
            filled = _wait_for_order(url, intent["client_order_id"], report["status"])
            assert filled["fills"], filled
            assert {f["venue_fill_id"] for f in filled["fills"]} == {
                f["venue_fill_id"] for f in report["fills"]
            }
            total = sum(float(f["qty"]) for f in filled["fills"])
            assert float(filled["filled_qty"]) == total
            fills = httpx.get(
                f"{url}/fills", params={"symbol": "AAPL", "limit": 20}, headers=AUTH, timeout=5
            ).json()["items"]
            assert {f["client_order_id"] for f in fills} == {intent["client_order_id"]}
            ready = httpx.get(f"{url}/health/ready", timeout=10).json()
            assert ready["checks"]["order_consumer"]["status"] == "ok", ready
        finally:
            consumer.send_signal(signal.SIGTERM)
            try:
                _, stderr = consumer.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                consumer.kill()
                _, stderr = consumer.communicate()
        assert consumer.returncode == 0, stderr.decode()
