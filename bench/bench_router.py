"""Router latency: ``POST /router/run`` over HTTP, the graph alone, and the same nodes without LangGraph.

HTTP: 1,000 sequential offline requests (the runbook's smoke payload: synthetic bars from
2025-01-02, breakout, fractional Kelly, guard, publish on the local bus) against an API process
started here (``python -m app.cli api``) on the embedded backends (SQLite, local bus log), one
keep-alive connection. Graph: ``run_router`` in-process with the same clients. Baseline: the
same node functions called in sequence by a plain loop (no LangGraph), to show the framework's
cost. Per-node medians come from the graph's own timings.

Run: ``.venv/bin/python -m bench.bench_router`` (writes its section of docs/benchmarks.md).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from langgraph.runtime import Runtime

from app.bootstrap import build_bus, build_database, build_guard_limits, build_router_risk_config
from app.config import Settings
from app.dal import MarketData
from app.execution.simulated import SimulatedBroker
from app.risk.guard import OrderGuard
from app.router import NODE_NAMES, RouterRunRequest, run_router
from app.router import nodes as router_nodes
from app.router.offline import OfflineBars
from app.router.state import RouterContext
from app.storage.repositories.guard import GuardRepository
from bench.report import Goal, Section
from tests.servers import free_port, wait_for

REQUESTS = 1_000
GRAPH_RUNS = 1_000
WARMUP = 30
PAYLOAD: dict[str, Any] = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": False,
}


def _summary(samples_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "mean": float(arr.mean()),
        "rps": 1000.0 / float(arr.mean()),
    }


def bench_http(root: Path) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))}
    env.update(DATA_DIR=str(root / "api"), ARTIFACTS_DIR=str(root / "art"), LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def live() -> bool:
            try:
                return httpx.get(f"{url}/health/live", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(live, 60, "ai-trader api")
        samples: list[float] = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(WARMUP):
                client.post("/router/run", json=PAYLOAD).raise_for_status()
            for _ in range(REQUESTS):
                started = time.perf_counter()
                response = client.post("/router/run", json=PAYLOAD)
                samples.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or "order:published" not in response.json()["events"]:
                    raise RuntimeError(f"unexpected answer: {response.status_code} {response.text[:300]}")
        return _summary(samples)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def _context(root: Path) -> tuple[RouterContext, Callable[[], None]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATA_DIR=root / "graph",
        ARTIFACTS_DIR=root / "art",
        DATABASE_URL=f"sqlite:///{root / 'graph' / 'router.db'}",
        BUS_URL=f"local://{root / 'graph' / 'bus.db'}",
    )
    db = build_database(settings)
    db.upgrade()
    bus = build_bus(settings)
    bus.provision()
    broker = SimulatedBroker()
    context = RouterContext(
        settings=settings,
        market_data=MarketData(settings, None),
        offline_bars=OfflineBars(MarketData(settings, None)),
        guard=OrderGuard(GuardRepository(db), build_guard_limits(settings)),
        risk=build_router_risk_config(settings),
        bus=lambda: bus,
        broker=lambda: broker,
    )

    def close() -> None:
        bus.close()
        db.dispose()

    return context, close


def bench_graph(context: RouterContext) -> tuple[dict[str, float], dict[str, float]]:
    request = RouterRunRequest.model_validate(PAYLOAD)
    for _ in range(WARMUP):
        run_router(request, context)
    samples: list[float] = []
    per_node: dict[str, list[float]] = {name: [] for name in NODE_NAMES}
    for _ in range(GRAPH_RUNS):
        started = time.perf_counter()
        result = run_router(request, context)
        samples.append((time.perf_counter() - started) * 1000)
        for name, ms in result.timings_ms.items():
            per_node[name].append(ms)
    return _summary(samples), {k: statistics.median(v) for k, v in per_node.items() if v}


def bench_plain_loop(context: RouterContext) -> dict[str, float]:
    request = RouterRunRequest.model_validate(PAYLOAD)
    runtime = Runtime(context=context)
    steps = [getattr(router_nodes, name) for name in NODE_NAMES]

    def once() -> None:
        state: dict[str, Any] = {"request": request, "run_id": "bench", "events": [], "timings_ms": {}}
        for step in steps:
            if step is router_nodes.publish and not state["guard"].allowed:
                break
            update = step(state, runtime)
            events = state["events"] + update.pop("events", [])
            timings = state["timings_ms"] | update.pop("timings_ms", {})
            state.update(update, events=events, timings_ms=timings)
        assert "order:published" in state["events"]

    typed_once: Callable[[], None] = once
    for _ in range(WARMUP):
        typed_once()
    samples = []
    for _ in range(GRAPH_RUNS):
        started = time.perf_counter()
        typed_once()
        samples.append((time.perf_counter() - started) * 1000)
    return _summary(samples)


def run(quick: bool = False) -> Section:
    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        root = Path(tmp)
        http = bench_http(root)
        context, close = _context(root)
        try:
            graph, nodes = bench_graph(context)
            plain = bench_plain_loop(context)
        finally:
            close()
    rows = [
        ("`POST /router/run` over HTTP (API process, keep-alive)", http),
        ("`run_router` in-process (LangGraph)", graph),
        ("same nodes, plain Python loop (no LangGraph)", plain),
    ]
    lines = [
        f"Runbook smoke payload (AAPL, breakout, synthetic bars from 2025-01-02, fractional Kelly, "
        f"guard, publish to the local bus), {REQUESTS:,} sequential requests after {WARMUP} warm-up "
        "runs; SQLite + local bus log. Goal: p50 under 25 ms over HTTP.",
        "",
        "| path | p50 ms | p90 ms | p99 ms | mean ms | runs/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, s in rows:
        cells = " | ".join(f"{s[k]:.2f}" for k in ("p50", "p90", "p99", "mean"))
        lines.append(f"| {label} | {cells} | {s['rps']:.0f} |")
    lines += ["", "Median per node inside the graph (ms):", "", "| " + " | ".join(nodes) + " |"]
    lines.append("|" + "---:|" * len(nodes))
    lines.append("| " + " | ".join(f"{v:.2f}" for v in nodes.values()) + " |")
    verdict = "met" if http["p50"] < 25 else "NOT met"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [
        "",
        f"HTTP p50 goal (< 25 ms): **{verdict}** ({http['p50']:.2f} ms). Load average during the run: "
        f"{load} (1, 5, 15 min) on a machine shared with other jobs; wall-clock figures move with it.",
    ]
    return Section(
        name="router",
        title="Router (`POST /router/run`, offline)",
        body="\n".join(lines),
        ratios={"router.graph_over_plain_loop": plain["p50"] / graph["p50"]},
        goals=[Goal("router HTTP p50 under 25 ms", f"{http['p50']:.2f} ms", http["p50"] < 25)],
    )


if __name__ == "__main__":
    print(run().body)
