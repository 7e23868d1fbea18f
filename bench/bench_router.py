"""Router latency: ``POST /router/run`` over HTTP, the graph alone, and the same nodes without LangGraph.

HTTP: 1,000 sequential offline requests (the runbook's smoke payload: synthetic bars from
2025-01-02, breakout, fractional Kelly, guard, publish on the local bus) against an API process
started here (``python -m app.cli api``) on the embedded backends (SQLite, local bus log), one
keep-alive connection. Graph: ``run_router`` in-process with the same clients. Baseline: the
same node functions called in sequence by a plain loop (no LangGraph), to show the framework's
cost; graph and plain loop run in turn so both see the same machine load. Per-node medians come
from the graph's own timings.

Target mode (``offline_mode=false``): bar close to order published with the position book and
the governor in the loop, on replayed 5-minute bars under a file clock moved to a new completed
bar before every run (see :class:`TargetRig`).

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
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from langgraph.runtime import Runtime

from app.bootstrap import build_bus, build_database, build_guard_limits, build_router_risk_config
from app.bootstrap.wiring import build_broker, build_market_data
from app.config import Settings
from app.dal import MarketData
from app.domain.clock import FileClock, set_clock_file
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.execution.simulated import SimulatedBroker
from app.risk.guard import OrderGuard
from app.router import NODE_NAMES, RouterRunRequest, run_router
from app.router import nodes as router_nodes
from app.router.offline import OfflineBars
from app.router.state import RouterContext
from app.storage.db import Database
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.storage.repositories.router_book import RouterBookRepository
from bench.report import Goal, Section
from tests.replay_recording import SESSION, WATCHLIST, session_bars
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


def bench_drill(context: RouterContext) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """The graph and the plain loop, one run of each in turn (so both see the same machine load):
    the graph's summary, its per-node medians, the plain loop's summary."""
    request = RouterRunRequest.model_validate(PAYLOAD)

    def graph_once() -> dict[str, float]:
        result = run_router(request, context)
        if "order:published" not in result.events:
            raise RuntimeError(f"drill run published nothing: {result.events}")
        return result.timings_ms

    def plain_once() -> None:
        state = plain_run(request, context, "bench")
        if "order:published" not in state["events"]:
            raise RuntimeError(f"plain drill run published nothing: {state['events']}")

    for _ in range(WARMUP):
        graph_once()
        plain_once()
    graph: list[float] = []
    plain: list[float] = []
    per_node: dict[str, list[float]] = {name: [] for name in NODE_NAMES}
    for _ in range(GRAPH_RUNS):
        started = time.perf_counter()
        timings = graph_once()
        graph.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        plain_once()
        plain.append((time.perf_counter() - started) * 1000)
        for name, ms in timings.items():
            per_node[name].append(ms)
    nodes = {k: statistics.median(v) for k, v in per_node.items() if v}
    return _summary(graph), nodes, _summary(plain)


def plain_run(request: RouterRunRequest, context: RouterContext, run_id: str) -> dict[str, Any]:
    """One run without LangGraph: the same node functions, the graph's edges as plain ``if``s,
    and what :func:`run_router` does after the graph (a reservation released when nothing was
    published). Returns the final state."""
    runtime = Runtime(context=context)
    state: dict[str, Any] = {"request": request, "run_id": run_id, "events": [], "timings_ms": {}}

    def step(node: Callable[..., dict[str, Any]]) -> None:
        update = node(state, runtime)
        events = state["events"] + update.pop("events", [])
        timings = state["timings_ms"] | update.pop("timings_ms", {})
        state.update(update, events=events, timings_ms=timings)

    step(router_nodes.ingest)
    if state.get("fallback_reason") is None:  # stale data ends the run
        for node in (router_nodes.features, router_nodes.strategy, router_nodes.priors, router_nodes.book):
            step(node)
        if state.get("fallback_reason") is None and state.get("existing_order") is None:
            step(router_nodes.risk)
            step(router_nodes.guard)
            if state["guard"].allowed:
                step(router_nodes.publish)
                if state.get("intent") is not None and state.get("fallback_reason") is None:
                    step(router_nodes.execute)
    guard, intent = state.get("guard"), state.get("intent")
    if guard is not None and guard.allowed and intent is not None and not state.get("published"):
        context.guard.release(intent.client_order_id)
    return state


# --- target mode: bar close -> order published, book and governor in the loop -------------------

TARGET_RUNS = 1_000
TARGET_RUNS_QUICK = 200
TARGET_INTERVAL = "5Min"
TARGET_WINDOW = pd.Timedelta(days=7)  # about five sessions of 5-minute bars (~390) per decision
EXTRA_POSITIONS = tuple(f"HLD{i:02d}" for i in range(15))  # held, never routed: the governor marks them
FILLS_PER_SYMBOL = 20
TARGET_LIMITS: dict[str, Any] = {
    "RISK_MAX_SYMBOL_WEIGHT": 0.5,
    "RISK_MAX_GROSS_EXPOSURE": 3.0,
    "RISK_MAX_OPEN_POSITIONS": 40,
    "RISK_DAILY_LOSS_LIMIT": 50_000.0,
    "RISK_MAX_DRAWDOWN": 0.5,
    "KILL_SWITCH_MAX_OPEN_ORDERS": 50,
    "KILL_SWITCH_DAILY_LOSS_LIMIT": 50_000.0,
    "KILL_SWITCH_NOTIONAL": 60_000.0,
}
TARGET_BAND: dict[str, Any] = {  # no rebalance band: every difference with the book is an order
    "ROUTER_REBALANCE_MIN_NOTIONAL": 0.0,
    "ROUTER_REBALANCE_MIN_FRACTION": 0.0,
}


def write_target_recording(root: Path, runs: int) -> pd.DatetimeIndex:
    """5-minute bars of the watchlist (the replay tests' generated market), enough sessions for
    ``runs`` decisions after one window; returns the bar starts the runs decide on, in order."""
    from app.dal.replay import write_recording

    sessions = (runs + WARMUP) // 78 + 8
    starts: pd.DatetimeIndex | None = None
    for symbol in WATCHLIST:
        _, intraday = session_bars(symbol, SESSION, intraday_days=sessions, daily_days=sessions + 5)
        write_recording(root, symbol, TARGET_INTERVAL, intraday)
        starts = pd.DatetimeIndex(intraday.index)
    assert starts is not None
    first = starts[0] + TARGET_WINDOW
    decided = starts[starts >= first]
    if len(decided) < runs + WARMUP:
        raise RuntimeError(f"recording too short: {len(decided)} bars for {runs + WARMUP} runs")
    return decided[: runs + WARMUP]


def _filled(cid: str, symbol: str, side: OrderSide, qty: int, price: float, when: datetime) -> OrderEvent:
    amount = Decimal(str(round(price, 2)))
    return OrderEvent(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        status=OrderStatus.FILLED,
        strategy="seed",
        ts=when,
        fills=[FillPayload(venue_fill_id=f"{cid}-f", qty=Decimal(qty), price=amount, ts=when)],
    )


class TargetRig:
    """One target-mode router on its own SQLite database, local bus, bar cache and paper
    account, deciding on the replay vendor's bars under a file clock the rig moves."""

    def __init__(self, root: Path, recording: Path, bars: pd.DatetimeIndex) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.clock_file = root / "clock"
        self.bars = bars
        set_clock_file(self.clock_file, self._close(0))
        self.settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            DATA_DIR=root / "data",
            ARTIFACTS_DIR=root / "art",
            DATABASE_URL=f"sqlite:///{root / 'router.db'}",
            BUS_URL=f"local://{root / 'bus.db'}",
            BROKER="simulated",
            DAL_AUTO_ORDER="replay",
            REPLAY_DIR=recording,
            REPLAY_CLOCK_FILE=self.clock_file,
            RISK_ACCOUNT_EQUITY=100_000.0,
            SIM_INITIAL_CASH=100_000.0,
            LOG_LEVEL="WARNING",
            **TARGET_LIMITS,
            **TARGET_BAND,
        )
        self.db: Database = build_database(self.settings)
        self.db.upgrade()
        self.bus = build_bus(self.settings)
        self.bus.provision()
        self.orders = OrdersRepository(self.db, account="simulated")
        broker = build_broker(self.settings, self.db)
        self.market_data = build_market_data(self.settings)
        self.context = RouterContext(
            settings=self.settings,
            market_data=self.market_data,
            guard=OrderGuard(GuardRepository(self.db), build_guard_limits(self.settings)),
            risk=build_router_risk_config(self.settings),
            bus=lambda: self.bus,
            broker=lambda: broker,
            book=RouterBookRepository(self.db),
            account="simulated",
            clock=FileClock(self.clock_file),
        )
        self._seed()

    def _close(self, k: int) -> datetime:
        """Just after bar ``k`` ended: the moment its close is known."""
        return (self.bars[k] + pd.Timedelta(minutes=5, seconds=1)).to_pydatetime()

    def _seed(self) -> None:
        """The book: 20 positions built from filled orders (through the order consumer's write
        path), each routed symbol holding one share so every decision has an order to make."""
        when = (self.bars[0] - pd.Timedelta(days=3)).to_pydatetime()
        events: list[SourcedOrderEvent] = []
        for symbol in (*WATCHLIST, *EXTRA_POSITIONS):
            price = 50.0 + sum(map(ord, symbol)) % 150
            for i in range(FILLS_PER_SYMBOL):
                side = OrderSide.BUY if i % 2 == 0 else OrderSide.SELL
                qty = 3 if side is OrderSide.BUY else 2  # net +1 a pair
                if symbol in WATCHLIST and i >= 2:  # the routed symbols end at one share
                    qty = 1
                cid = f"seed-{symbol}-{i}"
                events.append(SourcedOrderEvent(_filled(cid, symbol, side, qty, price * (1 + i / 500), when)))
        self.orders.apply(events)

    def request(self, k: int) -> RouterRunRequest:
        """Decision ``k``: the clock moved to just after bar ``k`` closed; the next watchlist symbol."""
        set_clock_file(self.clock_file, self._close(k))
        now = self._close(k)
        return RouterRunRequest.model_validate(
            {
                "symbol": WATCHLIST[k % len(WATCHLIST)],
                "start": (now - TARGET_WINDOW).isoformat(),
                "strategy": "breakout",
                "interval": TARGET_INTERVAL,
                "offline_mode": False,
                "publish_orders": True,
                "execute_orders": False,
            }
        )

    def settle(self, intent: OrderEvent | None) -> None:
        """Between runs (not timed): the order consumer records the published intent, then its
        cancel (a day order nobody executed), so the book is the seeded one at the next bar."""
        if intent is None:
            return
        canceled = intent.model_copy(update={"status": OrderStatus.CANCELED})
        self.orders.apply([SourcedOrderEvent(intent), SourcedOrderEvent(canceled)])

    def close(self) -> None:
        self.market_data.close()
        self.bus.close()
        self.db.dispose()


Once = Callable[[RouterRunRequest], tuple[list[str], OrderEvent | None]]


def _timed_run(rig: TargetRig, k: int, once: Once) -> tuple[float, list[str]]:
    request = rig.request(k)
    started = time.perf_counter()
    events, intent = once(request)
    elapsed = (time.perf_counter() - started) * 1000
    if "order:published" not in events:
        raise RuntimeError(f"target run on bar {rig.bars[k]} published nothing: {events}")
    rig.settle(intent)
    return elapsed, events


def target_rows(root: Path, runs: int) -> dict[str, Any]:
    """The target-mode graph and plain loop, each on its own (identically seeded) rig, one run
    of each in turn on the same bar, so both see the same machine load."""
    recording = root / "recording"
    bars = write_target_recording(recording, runs)
    per_node: dict[str, list[float]] = {name: [] for name in NODE_NAMES}
    graph_rig = TargetRig(root / "target-graph", recording, bars)
    plain_rig = TargetRig(root / "target-plain", recording, bars)

    def graph_once(request: RouterRunRequest) -> tuple[list[str], OrderEvent | None]:
        result = run_router(request, graph_rig.context)
        for name, ms in result.timings_ms.items():
            per_node[name].append(ms)
        return result.events, result.intent

    def plain_once(request: RouterRunRequest) -> tuple[list[str], OrderEvent | None]:
        state = plain_run(request, plain_rig.context, "bench")
        return state["events"], state.get("intent")

    graph: list[float] = []
    plain: list[float] = []
    decided: list[list[str]] = []
    try:
        for k in range(WARMUP + runs):
            graph_ms, graph_events = _timed_run(graph_rig, k, graph_once)
            plain_ms, plain_events = _timed_run(plain_rig, k, plain_once)
            if graph_events != plain_events:
                raise RuntimeError(
                    f"graph and plain loop decided differently on {bars[k]}: {graph_events} != {plain_events}"
                )
            if k >= WARMUP:
                graph.append(graph_ms)
                plain.append(plain_ms)
                decided.append(graph_events)
            else:
                for samples in per_node.values():
                    samples.clear()
    finally:
        graph_rig.close()
        plain_rig.close()
    return {
        "graph": _summary(graph),
        "plain": _summary(plain),
        "nodes": {k: statistics.median(v) for k, v in per_node.items() if v},
        "first": bars[WARMUP],
        "last": bars[-1],
        "decisions": {
            side: sum(f"strategy:breakout:target:{side}" in ev for ev in decided)
            for side in ("long", "short", "flat")
        },
    }


def run(quick: bool = False) -> Section:
    target_runs = TARGET_RUNS_QUICK if quick else TARGET_RUNS
    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        root = Path(tmp)
        http = bench_http(root)
        context, close = _context(root)
        try:
            graph, nodes, plain = bench_drill(context)
        finally:
            close()
        target = target_rows(root, target_runs)
    rows = [
        ("`POST /router/run` over HTTP (API process, keep-alive)", http),
        ("`run_router` in-process (LangGraph)", graph),
        ("same nodes, plain Python loop (no LangGraph)", plain),
    ]
    lines = [
        f"Runbook smoke payload (AAPL, breakout, synthetic bars from 2025-01-02, fractional Kelly, "
        f"guard, publish to the local bus), {REQUESTS:,} sequential requests after {WARMUP} warm-up "
        "runs; SQLite + local bus log. Goal: p50 under 25 ms over HTTP. In-process, the graph and "
        "the plain loop run in turn (one run of each per round), so both see the same load. The "
        "plain loop calls the graph's node functions with the graph's edges as `if`s and releases "
        "an unpublished reservation as `run_router` does; it does not build the `RouterRunResult`.",
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
    tg, tp, tn = target["graph"], target["plain"], target["nodes"]
    limits = ", ".join(f"`{k}`={v:g}" for k, v in TARGET_LIMITS.items())
    lines += [
        "",
        f"HTTP p50 goal (< 25 ms): **{verdict}** ({http['p50']:.2f} ms).",
        "",
        "### Target mode: bar close to order published, book and governor in the loop",
        "",
        f"`offline_mode=false`, breakout on 5-minute bars of {len(WATCHLIST)} symbols in turn "
        f"({', '.join(WATCHLIST)}) from the `replay` vendor through the DAL's `auto` chain and bar "
        f"cache; {target_runs:,} runs after {WARMUP} warm-up runs, each on a NEW completed bar "
        f"({target['first']:%Y-%m-%d %H:%M} to {target['last']:%Y-%m-%d %H:%M} UTC): a file clock "
        "is moved to one second after the bar's end before the run, so the freshness check passes "
        "and the duplicate check finds no order for the bar. SQLite with the order consumer's "
        f"tables: a book of {len(WATCHLIST) + len(EXTRA_POSITIONS)} positions built from "
        f"{FILLS_PER_SYMBOL} filled orders each (each routed symbol holds one share, so every run "
        "has an order to make; rebalance band 0, so a small difference is ordered too), governor "
        f"limits set ({limits}), so every check builds the book; "
        "equity from the simulated paper account stored in the same database; local bus. Between "
        "runs, untimed, the order consumer's write path records the published intent and its "
        "cancel, so each run finds the seeded book and no live reservation. Graph and plain loop "
        "run in turn on the same bar, each on its own identically seeded database, and must publish "
        "the same orders. "
        "One thread. Decisions: "
        + ", ".join(f"{n} {side}" for side, n in target["decisions"].items())
        + " (a flat decision sells the held share). Goal: p99 under 50 ms.",
        "",
        "| path | p50 ms | p90 ms | p99 ms | mean ms | runs/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, s in (
        ("`run_router` in-process (LangGraph), target mode", tg),
        ("same nodes, plain Python loop (no LangGraph), target mode", tp),
    ):
        cells = " | ".join(f"{s[k]:.2f}" for k in ("p50", "p90", "p99", "mean"))
        lines.append(f"| {label} | {cells} | {s['rps']:.0f} |")
    lines += ["", "Median per node inside the graph, target mode (ms):", "", "| " + " | ".join(tn) + " |"]
    lines.append("|" + "---:|" * len(tn))
    lines.append("| " + " | ".join(f"{v:.2f}" for v in tn.values()) + " |")
    target_verdict = "met" if tg["p99"] < 50 else "NOT met"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [
        "",
        f"Target-mode p99 goal (< 50 ms, graph): **{target_verdict}** ({tg['p99']:.2f} ms; plain loop "
        f"{tp['p99']:.2f} ms). Load average during the run: {load} (1, 5, 15 min) on a machine shared "
        "with other jobs; wall-clock figures move with it.",
    ]
    return Section(
        name="router",
        title="Router (`POST /router/run` drill; target mode with book and governor)",
        body="\n".join(lines),
        ratios={
            "router.graph_over_plain_loop": plain["p50"] / graph["p50"],
            "router.target.graph_over_plain_loop": tp["p50"] / tg["p50"],
        },
        goals=[
            Goal("router HTTP p50 under 25 ms", f"{http['p50']:.2f} ms", http["p50"] < 25),
            Goal(
                "router target mode (book + governor) p99 under 50 ms in-process",
                f"{tg['p99']:.2f} ms",
                tg["p99"] < 50,
            ),
        ],
    )


if __name__ == "__main__":
    print(run().body)
