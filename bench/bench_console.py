"""Console page load: each page in Chromium over an API holding 10,000 orders.

An SQLite database is seeded with 10,000 orders (12 symbols, three strategies, most filled with
one fill each, the rest working or rejected) through the order repository, as the consumer
would write them. ``python -m app.cli api`` and ``python -m app.cli ui`` then serve it, and
Debian's Chromium loads every page ``LOADS`` times (a fresh navigation each time): the time
from ``goto`` until the page's key numbers are on screen (the status banner and the page's
first metric). The API calls behind the pages are timed too. The fills build 50 positions
(the order consumer's book) and 250 daily snapshots are marked for the equity curve.

Run: ``python -m bench --only console`` (prints) or as part of ``python -m bench`` (which
rewrites docs/benchmarks.md with every suite); ``python -m bench.bench_console`` prints the
section alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
from playwright.sync_api import Page, sync_playwright

from app.bootstrap import build_database
from app.config import Settings
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from bench.report import Goal, Section
from tests.e2e.test_dashboard_browser import CHROMIUM_ARGS, _chromium
from tests.servers import free_port, wait_for

ORDERS = 10_000
LOADS = 20
QUICK_LOADS = 5
GOAL_MS = 1500.0
NAMED = ["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM", "XOM", "KO", "PEP", "INTC", "AMD"]
SYMBOLS = NAMED + [f"SYM{i:02d}" for i in range(50 - len(NAMED))]  # 50 positions
SNAPSHOTS = 250
STRATEGIES = ["breakout", "momentum", "mean_reversion"]
HEADINGS = {
    "Portfolio": "Portfolio",
    "Orders": "Orders & fills",
    "Backtests": "Backtests & sweeps",
    "Frames": "Frame viewer",
    "Risk": "Risk",
    "Models": "Models",
    "Schedule": "Schedule",
}
SWITCHES = 10
PAGES = {
    "Portfolio": "Equity",
    "Orders": "Orders shown",
    "Backtests": "completed",
    "Frames": None,
    "Risk": "Trading",
    "Models": None,
    "Schedule": None,
}
API_CALLS = {
    "/status": {},
    "/orders (200)": {"limit": 200},
    "/fills (200)": {"limit": 200},
    "/backtests/sweeps/overview": {},
    "/risk/kill-switch/history": {},
    "/portfolio": {},
    "/portfolio/history (1000)": {"limit": 1000},
    "/portfolio/pnl": {},
    "/risk/limit-use": {},
}


def seed(db: Database) -> None:
    repository = OrdersRepository(db)
    start = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
    batch: list[SourcedOrderEvent] = []
    for i in range(ORDERS):
        ts = start + timedelta(seconds=37 * i)
        price = Decimal(100 + (i % 250)) + Decimal(i % 100) / 100
        qty = Decimal(1 + i % 9)
        cycle = (i // len(SYMBOLS)) % 10  # every symbol gets fills: 50 positions
        status = (
            OrderStatus.FILLED
            if cycle < 8
            else (OrderStatus.ACCEPTED if cycle == 8 else OrderStatus.REJECTED)
        )
        coid = f"bench-{i:06d}"
        fills = (
            [FillPayload(venue_fill_id=f"{coid}-f1", qty=qty, price=price, ts=ts)]
            if status is OrderStatus.FILLED
            else []
        )
        event = OrderEvent(
            client_order_id=coid,
            symbol=SYMBOLS[i % len(SYMBOLS)],
            side=OrderSide.BUY if i % 2 else OrderSide.SELL,
            qty=qty,
            status=status,
            strategy=STRATEGIES[i % len(STRATEGIES)],
            ts=ts,
            fills=fills,
        )
        batch.append(SourcedOrderEvent(event=event, event_id=f"evt-{coid}"))
        if len(batch) == 1_000:
            repository.apply(batch)
            batch = []
    if batch:
        repository.apply(batch)
    snapshots(db)


def snapshots(db: Database) -> None:
    """``SNAPSHOTS`` daily marks of the book (each position at its average cost plus a drift)."""
    from app.portfolio import mark_to_market
    from app.storage.repositories.portfolio import PortfolioRepository

    repository = PortfolioRepository(db)
    positions = repository.positions("simulated", include_flat=True)
    held = [p for p in positions if not p.is_flat]
    cash = Decimal(100_000) + sum((p.realised_pnl - p.cost_basis for p in positions), Decimal(0))
    previous = None
    day0 = datetime(2026, 1, 2, 21, 0, tzinfo=UTC)
    for day in range(SNAPSHOTS):
        drift = Decimal(1) + Decimal((day * 7) % 23 - 11) / 1000
        prices = {p.symbol: (p.average_cost * drift).quantize(Decimal("0.01")) for p in held}
        previous = mark_to_market(
            positions,
            account="simulated",
            cash=cash,
            prices=prices,
            at=day0 + timedelta(days=day),
            previous=previous,
        )
        repository.save_snapshot(previous)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _loaded(page: Page, metric: str | None) -> None:
    page.locator(".trading-banner").first.wait_for(timeout=30_000)
    if metric is not None:
        page.locator('[data-testid="stMetricLabel"]', has_text=metric).first.wait_for(timeout=30_000)


def _stats(samples: list[float]) -> tuple[float, float, float]:
    arr = np.asarray(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95)), float(arr.max())


def run(quick: bool = False) -> Section:
    root = Path(tempfile.mkdtemp(prefix="bench-console-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))}
    env.update(DATA_DIR=str(root / "var"), ARTIFACTS_DIR=str(root / "artifacts"), LOG_LEVEL="WARNING")
    settings = Settings(_env_file=None, DATA_DIR=root / "var", ARTIFACTS_DIR=root / "artifacts")  # type: ignore[call-arg]
    db = build_database(settings)
    db.upgrade()
    started = time.perf_counter()
    seed(db)
    seeded_s = time.perf_counter() - started
    db.dispose()
    api_port, ui_port = free_port(), free_port()
    env.update(PORT=str(api_port), UI_PORT=str(ui_port))
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(api_port)],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ui", "--port", str(ui_port)],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api_url, ui_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}/ui/"
    loads = QUICK_LOADS if quick else LOADS
    switches = 2 if quick else SWITCHES
    rows: list[str] = []
    api_rows: list[str] = []
    all_loads: list[float] = []
    switch_times: list[float] = []
    switch = (0.0, 0.0, 0.0)
    try:
        wait_for(lambda: _answers(f"{api_url}/health/live"), 60, "api")
        wait_for(lambda: _answers(f"{ui_url}_stcore/health"), 60, "ui")
        with httpx.Client(base_url=api_url, timeout=10) as client:
            for path, params in API_CALLS.items():
                url = path.split(" ")[0]
                client.get(url, params=params)  # warm
                times = []
                for _ in range(50):
                    t0 = time.perf_counter()
                    client.get(url, params=params).raise_for_status()
                    times.append(time.perf_counter() - t0)
                p50, p95, _ = _stats(times)
                api_rows.append(f"| `GET {path}` | {p50:.1f} | {p95:.1f} |")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{ui_url}?page=orders")  # first load fetches the app's scripts
            _loaded(page, "Orders shown")
            for name, metric in PAGES.items():
                times = []
                for _ in range(loads):
                    t0 = time.perf_counter()
                    page.goto(f"{ui_url}?page={name.lower()}")
                    _loaded(page, metric)
                    times.append(time.perf_counter() - t0)
                all_loads.extend(times)
                p50, p95, worst = _stats(times)
                rows.append(f"| {name} | {p50:.0f} | {p95:.0f} | {worst:.0f} |")
            names = list(PAGES)
            for round_ in range(switches):
                for index, name in enumerate(names):
                    target = names[(index + 1) % len(names)] if round_ or index else name
                    t0 = time.perf_counter()
                    page.locator('[data-testid="stRadio"] label', has_text=target).first.click()
                    page.locator("h3", has_text=HEADINGS[target]).first.wait_for(timeout=30_000)
                    _loaded(page, PAGES[target])
                    switch_times.append(time.perf_counter() - t0)
            switch = _stats(switch_times)
            browser.close()
    finally:
        for proc in (ui, api):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    overall = _stats(all_loads)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = "\n".join(
        [
            f"{ORDERS:,} orders (8,000 filled with a fill each, 1,000 working, 1,000 rejected; "
            f"{len(SYMBOLS)} positions, {SNAPSHOTS} snapshots) seeded in "
            f"{seeded_s:.1f} s into SQLite; `ai-trader api` and `ai-trader ui` serve them; Debian's "
            f"Chromium loads each page {loads} times (a fresh navigation each time) until the status "
            f"banner and the page's first metric are on screen. Goal: p95 under {GOAL_MS:.0f} ms.",
            "",
            "| page | p50 ms | p95 ms | max ms |",
            "|---|---:|---:|---:|",
            *rows,
            f"| **all pages** | {overall[0]:.0f} | **{overall[1]:.0f}** | {overall[2]:.0f} |",
            "",
            f"Switching pages inside the open console (the page selector, {len(switch_times)} switches "
            f"round the {len(PAGES)} pages; the session and its websocket stay open): "
            f"p50 {switch[0]:.0f} ms, "
            f"**p95 {switch[1]:.0f} ms**, max {switch[2]:.0f} ms.",
            "",
            "The API calls behind them (50 sequential calls each, one keep-alive connection):",
            "",
            "| call | p50 ms | p95 ms |",
            "|---|---:|---:|",
            *api_rows,
            "",
            f"Load average at the end (1, 5, 15 min): {load}; page loads are wall-clock figures in a real "
            "browser and move with the machine's load.",
        ]
    )
    return Section(
        name="console",
        title="Operator console (page load, 10,000 orders, 50 positions)",
        body=body,
        goals=[
            Goal(
                f"console page load p95 under {GOAL_MS:.0f} ms (10,000 orders, 50 positions)",
                f"{overall[1]:.0f} ms",
                overall[1] < GOAL_MS,
            )
        ],
    )


if __name__ == "__main__":
    print(run().body)
