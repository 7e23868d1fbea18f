"""The operator console in Debian's Chromium, on the platform after a paper-trading day.

The module's platform is the paper-trading day of :mod:`tests.e2e.paper_day` (SQLite): the
scheduler, the order consumer and the venue worker run as ``ai-trader up`` starts them, on a
replayed market and clock, and the day is driven from the 03:58 startup check through the
refreshes (router -> bus -> consumer -> simulated paper account -> fills -> book) to the
18:00 report that marks the book. Then ``ai-trader up`` starts the API, the console and the
sweep consumer on the same database and ``DATA_DIR``; the backtest pages get their own work
(a probabilistic backtest, a sweep that completes and one whose 144 sets all fail), which the
day does not produce. Each page's key numbers are compared with the API's; screenshots of
every page are saved under ``artifacts/e2e/console/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.models.features import FEATURE_NAMES, feature_hash
from app.models.registry import ModelCard, ModelRegistry, PromotionPolicy
from app.risk.governor import GovernorBook, GovernorDecision, GovernorLimits, GovernorOrder, GovernorState
from app.risk.governor import evaluate as govern
from app.risk.guard import trading_day_start
from app.risk.ports import GuardSnapshot, Reservation, SnapshotQuery
from app.storage.repositories.guard import GuardRepository
from tests.e2e.paper_day import PaperDay
from tests.e2e.test_dashboard_browser import CHROMIUM_ARGS, _chromium
from tests.servers import free_port, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "e2e" / "console"
TOKEN = "console-e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTER_RUN = {
    "start": "2025-01-02T00:00:00Z",
    "end": "2026-11-18T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": True,
}
RISK = {  # generous portfolio limits: enforced (so their use is shown) without refusing the day
    "RISK_MAX_SYMBOL_WEIGHT": "0.5",
    "RISK_MAX_GROSS_EXPOSURE": "3",
    "RISK_MAX_OPEN_POSITIONS": "30",
    "RISK_DAILY_LOSS_LIMIT": "50000",
    "RISK_MAX_DRAWDOWN": "0.5",
}
DAY = [  # (ET clock, the job the scheduler runs when the clock reaches it)
    ((3, 58), "startup_check"),
    ((4, 0), "premarket_scan"),
    ((6, 15), "finalize_watchlist"),
    ((9, 25), "warm_up"),
    ((9, 35), "intraday_refresh_0935"),
    ((11, 30), "intraday_refresh_1130"),
    ((13, 30), "intraday_refresh_1330"),
    ((16, 5), "after_hours_scan"),
    ((18, 0), "reports"),
]
ONLY = ["--only", "api", "--only", "ui", "--only", "sweep-consumer"]
SPARE = ["META", "TSLA", "JPM", "XOM", "KO", "PEP", "INTC", "AMD", "ORCL", "IBM"]
"""Symbols outside the day's watchlist, routed (offline) to place a new order during a test."""


@dataclass
class Platform:
    api: str
    ui: str
    day: PaperDay

    @property
    def root(self) -> Path:
        return self.day.root

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.api}{path}", params=params, headers=AUTH, timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any], timeout: float = 120) -> Any:
        response = httpx.post(f"{self.api}{path}", json=body, headers=AUTH, timeout=timeout)
        assert response.status_code < 300, response.text
        return response.json()

    def route(self, symbol: str) -> bool:
        """One executed router run; ``True`` when it placed an order."""
        result = self.post("/router/run", ROUTER_RUN | {"symbol": symbol})
        return bool(result.get("executed"))


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))}
    env.update(
        DATA_DIR=str(root / "var"),
        ARTIFACTS_DIR=str(root / "artifacts"),
        API_BEARER_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def _run_the_day(day: PaperDay) -> None:
    """Drive the replayed session: every job of the day runs, in order, and ends ``ok``."""
    for (hour, minute), job in DAY:
        day.move_clock(hour, minute)
        entry = day.wait_job(job, timeout_s=120)
        assert entry["status"] == "ok", (job, entry)
    day.wait_consumed()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("console")
    shutil.copytree(REPO / "configs", root / "configs")
    day = PaperDay.create(
        root,
        f"sqlite:///{root / 'paper.db'}",
        SCHEDULE_STRATEGY="breakout",
        API_BEARER_TOKEN=TOKEN,
        **RISK,
    )
    day.start()
    api_port, ui_port = free_port(), free_port()
    proc = subprocess.Popen(  # the API, the console and the sweep consumer, beside the day's processes
        [sys.executable, "-m", "app.cli", "up", *ONLY],
        env={**day.env(), "PORT": str(api_port), "UI_PORT": str(ui_port), "LOG_LEVEL": "WARNING"},
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}/ui/"
    try:
        wait_for(lambda: _answers(f"{api}/health/live"), 60, "api")
        wait_for(lambda: _answers(f"{ui}_stcore/health"), 60, "ui")
        seeded = Platform(api=api, ui=ui, day=day)
        # the backtest pages' work runs while the day is driven (the sweep consumer and the
        # API's backtest are independent of the trading day)
        good = seeded.post("/backtests/sweeps/jobs", {"config_path": "configs/backtest/momentum_sweep.yaml"})
        bad = seeded.post(
            "/backtests/sweeps/jobs",
            {"config_path": "configs/backtest/momentum_sweep.yaml", "symbol": "ZZZZ"},
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            backtest = pool.submit(
                seeded.post,
                "/backtests/run",
                {
                    "symbol": "AAPL",
                    "start": "2023-01-03",
                    "end": "2023-12-29",
                    "strategy": "momentum",
                    "use_probabilistic": True,
                },
            )
            _run_the_day(day)
            backtest.result(timeout=240)
        assert day.orders(), "the paper-trading day placed no order"

        def finished() -> bool:
            states = {j["job_id"]: j["status"] for j in seeded.get("/backtests/sweeps/jobs")["items"]}
            return all(states.get(j["job_id"]) in ("completed", "failed") for j in (good, bad))

        wait_for(finished, 240, "both sweeps")
        yield seeded
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        if day.procs:
            day.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    yield opened
    context.close()


def _open(page: Page, ui: str, name: str, query: str = "") -> None:
    page.goto(f"{ui}?page={name}{query}")
    page.locator(".trading-banner").first.wait_for(timeout=30_000)


def _metric(page: Page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)
    )
    return metric.first.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _wait_metric(page: Page, label: str, want: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = _metric(page, label)
        except Exception:  # not rendered yet
            seen = None
        if seen == want:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"{label}: want {want!r}, last saw {seen!r}")


def _grid_text(page: Page, index: int = 0) -> str:
    """The text of a data grid (Streamlit keeps an accessible table beside the canvas)."""
    return page.locator('[data-testid="stDataFrame"] table').nth(index).inner_text()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1280, "height": 1000}
    # Streamlit scrolls inside its own container: a tall viewport shows the whole page
    page.set_viewport_size({"width": size["width"], "height": 2000})
    page.wait_for_timeout(800)  # let charts finish drawing
    page.screenshot(path=str(SHOTS / f"console-{name}.png"))
    page.set_viewport_size(size)


def _choose(page: Page, label: str, option: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.keyboard.type(option)  # filters the list (a long one is virtualised: not every option is drawn)
    page.get_by_role("option").filter(has_text=option).first.click()


def _rows(page: Page, index: int = 0) -> list[list[str]]:
    """The body rows of a data grid's accessible table, as cell texts."""
    table = page.locator('[data-testid="stDataFrame"] table').nth(index)
    table.locator("tbody tr").first.wait_for(state="attached", timeout=15_000)
    return [
        [c.strip() for c in row.locator("th, td").all_inner_texts() if c.strip()]
        for row in table.locator("tbody tr").all()
    ]


def _notional(order: dict[str, Any]) -> Decimal | None:
    """An order's notional as the API gives it, else what it filled for (qty x average price)."""
    if order.get("notional") is not None:
        return Decimal(order["notional"])
    if order.get("filled_qty") and order.get("avg_fill_price"):
        return (Decimal(order["filled_qty"]) * Decimal(order["avg_fill_price"])).quantize(Decimal("0.01"))
    return None


def _cell_row(page: Page, text: str) -> str:
    """The text of the first data-grid row holding ``text``."""
    row = page.locator('[data-testid="stDataFrame"] table tr', has_text=text).first
    row.wait_for(state="attached", timeout=15_000)
    return row.inner_text()


def _cells(page: Page, text: str) -> list[str]:
    """The cells of the first data-grid row holding ``text`` (the accessible table keeps the raw
    values, before the grid's number formats)."""
    row = page.locator('[data-testid="stDataFrame"] table tr', has_text=text).first
    row.wait_for(state="attached", timeout=15_000)
    return [c.strip() for c in row.locator("th, td").all_inner_texts() if c.strip()]


def test_portfolio_page_numbers_equal_the_apis(platform: Platform, page: Page) -> None:
    portfolio = platform.get("/portfolio")
    use = platform.get("/risk/limit-use")
    pnl = platform.get("/portfolio/pnl")
    _open(page, platform.ui, "portfolio")
    _wait_metric(page, "Equity", f"{Decimal(portfolio['equity']):,.2f}")
    assert _metric(page, "Cash") == f"{Decimal(portfolio['cash']):,.2f}"
    assert _metric(page, "Realised P&L") == f"{Decimal(portfolio['realised_pnl']):,.2f}"
    assert _metric(page, "Drawdown") == f"{Decimal(portfolio['drawdown']):.2%}"
    assert _metric(page, "Open positions") == str(portfolio["open_positions"])
    today = Decimal(use["realised_today"]) + Decimal(use["unrealised"])
    assert _metric(page, "Today's P&L") == f"{today:,.2f}"
    assert _metric(page, "Daily loss limit") == "50,000.00"
    # the day's book: each position as /portfolio holds it, marked as /risk/limit-use marks it
    equity = Decimal(use["equity"])
    marks = {s["symbol"]: s for s in use["symbols"]}
    assert portfolio["positions"], "the paper-trading day ended flat: nothing to compare"
    for position in portfolio["positions"]:
        marked = marks[position["symbol"]]
        cells = _cells(page, position["symbol"])
        assert cells[0] == position["symbol"], cells
        shown = [float(c) for c in cells[1:7]]
        want = [
            Decimal(position["qty"]),
            Decimal(position["avg_cost"]),
            Decimal(marked["mark"]),
            Decimal(marked["exposure"]),
            Decimal(marked["unrealised"]),
            abs(Decimal(marked["exposure"])) / equity,
        ]
        assert shown == pytest.approx([float(w) for w in want], rel=1e-9), (cells, want)
        assert float(cells[7]) == 0.5  # the symbol cap, RISK_MAX_SYMBOL_WEIGHT
    for bucket in pnl["by_day"]:
        cells = _cells(page, bucket["key"])
        assert Decimal(cells[1]) == Decimal(bucket["realised"]) and int(cells[3]) == bucket["fills"], cells
    assert pnl["by_strategy"], pnl
    for bucket in pnl["by_strategy"]:
        assert Decimal(_cells(page, bucket["key"])[1]) == Decimal(bucket["realised"])
    page.locator(".js-plotly-plot").first.wait_for(timeout=15_000)
    bars = {item["name"]: item for item in use["items"] if item["use"] is not None}
    assert set(bars) == {
        "max_symbol_weight",
        "max_gross_exposure",
        "max_open_positions",
        "daily_loss",
        "max_drawdown",
    }
    for name, item in bars.items():
        shown = page.locator(f'.limit-bar[data-limit="{name}"]').first.get_attribute("data-use")
        assert shown is not None and float(shown) == pytest.approx(item["use"], abs=1e-6), (name, shown)
    _shot(page, "portfolio")


def test_orders_page_numbers_equal_the_apis(platform: Platform, page: Page) -> None:
    orders = platform.get("/orders", limit=200)["items"]
    _open(page, platform.ui, "orders")
    _wait_metric(page, "Orders shown", str(len(orders)))
    assert _metric(page, "Filled") == str(sum(o["status"] == "filled" for o in orders))
    notional = {o["id"]: _notional(o) for o in orders}
    assert all(n is not None for n in notional.values()), orders
    assert _metric(page, "Notional") == f"{sum(n for n in notional.values() if n is not None):,.2f}"
    assert {o["strategy"] for o in orders} == {"breakout"}, "the page should show the paper day's orders"
    rows = {int(r[-1]): r for r in _rows(page) if r and r[-1].isdigit()}
    assert set(rows) == set(notional), (sorted(rows), sorted(notional))
    for order in orders:  # symbol, side, status and notional lead every row
        cells = rows[order["id"]]
        assert cells[:2] == [order["symbol"], order["side"]] and cells[2].endswith(order["status"]), cells
        assert float(cells[3]) == pytest.approx(float(notional[order["id"]] or 0), abs=0.005), (cells, order)
    _choose(page, "Order detail", f"#{orders[0]['id']} · ")
    page.get_by_text(orders[0]["client_order_id"]).wait_for(timeout=15_000)
    run = platform.get(f"/orders/{orders[0]['id']}/run")
    assert "order:executed" in run["events"]
    page.get_by_text("Router run").wait_for(timeout=15_000)
    deadline = time.monotonic() + 15
    while True:
        grids = page.locator('[data-testid="stDataFrame"] table')
        shown = " ".join(grids.nth(i).inner_text() for i in range(grids.count()))
        if all(event in shown for event in run["events"]):
            break
        assert time.monotonic() < deadline, (shown, run["events"])
        page.wait_for_timeout(200)
    _shot(page, "orders")


def test_backtests_page_counts_failed_sweeps_and_draws_the_heat_map(platform: Platform, page: Page) -> None:
    overview = platform.get("/backtests/sweeps/overview")
    by_status = {j["status"]: j for j in overview["items"]}
    assert by_status["failed"]["ok"] == 0 and by_status["failed"]["failed"] == 144
    _open(page, platform.ui, "backtests")
    _wait_metric(page, "completed", str(overview["counts"]["completed"]))
    assert _metric(page, "failed") == str(overview["counts"]["failed"])
    grid = _grid_text(page)
    assert "144" in grid and "failed" in grid
    _choose(page, "Sweep job", by_status["completed"]["job_id"][:12])
    _wait_metric(page, "Sets ok", "144")
    assert _metric(page, "Sets failed") == "0"
    page.locator(".js-plotly-plot").first.wait_for(timeout=15_000)
    _shot(page, "backtests")


def test_frame_viewer_shows_the_runs_metrics_and_refuses_paths(platform: Platform, page: Page) -> None:
    run = platform.get("/backtests/runs")["items"]
    probabilistic = next(r for r in run if r["source"] == "api")
    _open(page, platform.ui, "frames")
    _choose(page, "Frame", "· api · AAPL momentum")
    page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
    assert _metric(page, "Total return") == f"{probabilistic['metrics']['total_return']:.2%}"
    assert _metric(page, "Max drawdown") == f"{probabilistic['metrics']['max_drawdown']:.2%}"
    _shot(page, "frames")
    frames = platform.root / "artifacts" / "probabilistic" / "frames"
    (frames / "corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file")
    box = page.get_by_label("Frame path")
    for path, words in [
        ("/etc/passwd", "only frames under the frames store"),
        (str(frames / "corrupt.parquet"), "not a readable frame"),
    ]:
        box.fill(path)
        box.press("Enter")
        alert = page.locator('[data-testid="stAlertContentError"]')
        alert.filter(has_text=words).wait_for(timeout=15_000)
        assert alert.count() == 1, alert.all_inner_texts()
        assert "Traceback" not in page.content()


def test_risk_page_and_a_red_banner_within_one_refresh(platform: Platform, page: Page) -> None:
    switch = platform.get("/risk/kill-switch")
    _open(page, platform.ui, "risk")
    _wait_metric(page, "Trading", "ACTIVE")
    assert _metric(page, "Refused orders") == str(switch["trips_total"])
    _shot(page, "risk")
    platform.post("/risk/kill-switch", {"active": True, "reason": "e2e drill", "actor": "desk"})
    try:
        started = time.monotonic()
        halted = page.locator('.trading-banner[data-state="HALTED"]')
        halted.wait_for(timeout=7_000)  # one refresh (5 s) plus a render
        elapsed = time.monotonic() - started
        assert "e2e drill" in halted.inner_text() and "by desk" in halted.inner_text()
        colour = halted.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(198, 40, 40)", colour
        _shot(page, "risk-halted")
        assert elapsed < 7
    finally:
        platform.post("/risk/kill-switch", {"active": False, "reason": "drill over", "actor": "desk"})


def _latch_a_drawdown_trip(day: PaperDay) -> None:
    """Trip the drawdown limit through the guard's store with the governor's own rules: a book
    whose high-water mark is ten times its equity (the store latches REDUCING in its transaction)."""
    order = GovernorOrder(symbol="QQA", side="buy", notional=Decimal(100), price=Decimal(110))

    def decide(snapshot: GuardSnapshot, book: GovernorBook | None) -> GovernorDecision:
        assert book is not None
        marked = replace(book, starting_equity=Decimal(100_000), high_water_mark=Decimal(1_000_000))
        return govern(order, marked, GovernorLimits(max_drawdown=0.5))

    now = datetime.now(UTC)
    with day.services() as services:
        decision = GuardRepository(services.db).reserve(
            SnapshotQuery(now=now, since=trading_day_start(now)),
            Reservation(
                client_order_id="e2e-latch",
                symbol="QQA",
                side="buy",
                notional=Decimal(100),
                expires_at=now + timedelta(seconds=5),
            ),
            decide,
            needs_book=True,
        )
    assert decision.reason == "kill_switch_drawdown" and decision.latch == GovernorState.REDUCING


def _press(page: Page, button: str, reason: str) -> None:
    page.get_by_label("Reason (required)").fill(reason)
    page.get_by_role("button", name=button).click()


def test_governor_controls_round_trip_in_the_browser(platform: Platform, page: Page) -> None:
    _open(page, platform.ui, "risk")
    _wait_metric(page, "Trading", "ACTIVE")
    try:
        _press(page, "Reduce only", "e2e wind down")
        reducing = page.locator('.trading-banner[data-state="REDUCING"]')
        reducing.wait_for(timeout=10_000)
        assert "e2e wind down" in reducing.inner_text()
        colour = reducing.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(255, 243, 224)", colour  # amber
        assert platform.get("/kill-switch")["state"] == "REDUCING"
        _wait_metric(page, "Trading", "REDUCING")
        _shot(page, "risk-reducing")
        _press(page, "Resume trading", "wind down over")
        page.locator('.trading-banner[data-state="ACTIVE"]').wait_for(timeout=10_000)
        _latch_a_drawdown_trip(platform.day)
        latched = page.locator(
            '.trading-banner[data-state="REDUCING"]', has_text="latched by kill_switch_drawdown"
        )
        latched.wait_for(timeout=10_000)
        _wait_metric(page, "Latched by", "kill_switch_drawdown")
        assert page.get_by_role("button", name="Resume trading").count() == 0  # a latch takes a reset
        _press(page, "Reset latched trip", "loss reviewed")
        page.locator('.trading-banner[data-state="ACTIVE"]').wait_for(timeout=10_000)
        switch = platform.get("/kill-switch")
        assert switch["state"] == "ACTIVE" and switch["latched_reason"] is None
        history = platform.get("/risk/kill-switch/history", limit=4)["items"]
        assert [(i["reason"], i["actor"]) for i in history] == [
            ("reset", "console"),
            ("reducing", "governor"),
            ("off", "console"),
            ("reducing", "console"),
        ]
        assert history[0]["detail"] == "loss reviewed"
    finally:
        platform.post("/kill-switch", {"reset": True, "reason": "e2e cleanup", "actor": "desk"})


def _book_loses_a_share(day: PaperDay) -> str:
    """Make the book differ from the paper account (one share of a held symbol missing from the
    book, as a lost fill would), then reconcile as the scheduler does before a refresh: the
    difference no order explains latches REDUCING with ``reconcile:<kind> <symbol>``."""
    from app.portfolio import AdjustingEntry
    from app.storage.repositories.portfolio import PortfolioRepository
    from app.workers.reconciliation import auto_reconcile

    with day.services() as services:
        repository = PortfolioRepository(services.db)
        held = next(p for p in repository.positions("simulated") if p.quantity > 1)
        repository.apply_adjustments(
            [
                AdjustingEntry(
                    account="simulated",
                    symbol=held.symbol,
                    quantity_before=held.quantity,
                    quantity_after=held.quantity - 1,
                    average_cost_before=held.average_cost,
                    average_cost_after=held.average_cost,
                    kind="e2e_lost_fill",
                    who="e2e",
                    why="a fill the book never saw",
                    at=datetime.now(UTC),
                )
            ]
        )
        done = auto_reconcile(services, trigger="e2e")
        assert done.latched is not None and done.latched.startswith("reconcile:"), done
        assert services.kill_switch.status().latched_reason == done.latched
    return held.symbol


def test_a_reconciliation_latch_is_acknowledged_in_the_browser(platform: Platform, page: Page) -> None:
    broker = platform.day.broker_positions()
    _open(page, platform.ui, "risk")
    _wait_metric(page, "Trading", "ACTIVE")
    assert page.get_by_role("button", name="Acknowledge reconciliation").count() == 0
    symbol = _book_loses_a_share(platform.day)
    try:
        latched = page.locator('.trading-banner[data-state="REDUCING"]', has_text="latched by reconcile:")
        latched.wait_for(timeout=10_000)  # within one refresh
        assert symbol in latched.inner_text() and "acknowledge it on the Risk page" in latched.inner_text()
        assert platform.day.book()[symbol] == broker[symbol] - 1
        page.get_by_role("button", name="Acknowledge reconciliation").wait_for(timeout=10_000)
        assert page.get_by_role("button", name="Resume trading").count() == 0
        _shot(page, "risk-reconcile-latch")
        page.get_by_label("Operator").fill("alice")
        _press(page, "Acknowledge reconciliation", "the broker's count is right")
        page.locator('.trading-banner[data-state="ACTIVE"]').wait_for(timeout=10_000)
        page.get_by_text("reconciliation acknowledged").wait_for(timeout=10_000)
        switch = platform.get("/kill-switch")
        assert switch["state"] == "ACTIVE" and switch["latched_reason"] is None, switch
        assert platform.day.book() == broker  # the book took the broker's figures
        (last,) = platform.get("/risk/kill-switch/history", limit=1)["items"]
        assert last["actor"] == "alice" and "the broker's count is right" in (last["detail"] or ""), last
    finally:
        if platform.get("/kill-switch")["latched_reason"]:
            platform.post("/kill-switch", {"reset": True, "reason": "e2e cleanup", "actor": "desk"})


def test_models_page_shows_calibration_and_champion(platform: Platform, page: Page) -> None:
    with platform.day.services() as services:
        registry = ModelRegistry(services.blob, services.settings.BLOB_CONTAINER_MODELS)
        for version, brier, created in (
            ("v1", 0.240, "2026-11-27T22:30:00+00:00"),
            ("v2", 0.249, "2026-11-28T22:30:00+00:00"),
        ):
            card = _card(version, brier, created)
            services.blob.put_text(
                registry.container, f"models/momentum/{version}/card.json", json.dumps(asdict(card))
            )
            registry.decide(
                card, PromotionPolicy(), now=datetime.fromisoformat(created) + timedelta(minutes=1)
            )
    folder = platform.root / "artifacts" / "daily" / "2026-12-01"
    folder.mkdir(parents=True, exist_ok=True)
    curve = {"forecast": [0.35, 0.55, 0.65], "observed": [0.3, 0.25, 0.2], "count": [4.0, 10.0, 10.0]}
    scores = {
        "brier": 0.31,
        "log_loss": 0.82,
        "ece": 0.33,
        "samples": 24,
        "base_rate": 0.23,
        "mean_prob": 0.57,
    }
    calibration = {
        "scored": 24,
        "pending": 3,
        "drift_max": 0.1,
        "min_samples": 10,
        "overall": {**scores, "reliability": curve},
        "regimes": {"trend_up": {**scores, "reliability": curve, "drift": True, "judged": True}},
        "drifting": ["trend_up"],
        "decisions": [],
        "errors": {},
    }
    (folder / "reports.json").write_text(json.dumps({"session": "2026-12-01", "calibration": calibration}))
    overview = platform.get("/models/overview")
    _open(page, platform.ui, "models")
    _wait_metric(page, "Scored", str(overview["calibration"]["scored"]))
    assert _metric(page, "ECE") == f"{overview['calibration']['overall']['ece']:.3f}"
    page.get_by_text("Calibration drift in trend_up").wait_for(timeout=15_000)
    assert _cells(page, "trend_up")[-1] == "DRIFT"
    champion = _cells(page, "champion")
    assert champion[1] == "v1" and float(champion[3]) == 0.24 and float(champion[4]) == 0.25, champion
    assert _cells(page, "challenger")[1] == "v2"
    assert "below the required" in _cell_row(page, "below the required")
    page.locator(".js-plotly-plot").first.wait_for(timeout=15_000)
    _shot(page, "models")


def _card(version: str, brier: float, created: str) -> ModelCard:
    prior = 0.25
    return ModelCard(
        strategy="momentum",
        version=version,
        created_at=created,
        feature_names=list(FEATURE_NAMES),
        feature_hash=feature_hash(FEATURE_NAMES),
        training_window={"start": "2024-01-02", "end": "2026-11-27"},
        data_fingerprint="e" * 64,
        samples=1500,
        metrics={
            "model": {"brier": brier, "log_loss": 0.66, "ece": 0.02, "samples": 1500, "base_rate": 0.52},
            "prior": {"brier": prior, "log_loss": 0.69, "ece": 0.04, "samples": 1500, "base_rate": 0.52},
            "brier_improvement": (prior - brier) / prior,
        },
        library_versions={"python": "3"},
        code_version=None,
        artifact_sha256="0" * 64,
    )


def test_schedule_page_lists_the_sessions_jobs(platform: Platform, page: Page) -> None:
    session = platform.day.session.isoformat()
    day = platform.get("/schedule/day", day=session)
    _open(page, platform.ui, "schedule", f"&day={session}")
    _wait_metric(page, "Jobs", str(len(day["jobs"])))
    ran = {job for _, job in DAY}
    assert _metric(page, "Ok") == str(sum(j["status"] == "ok" for j in day["jobs"]))
    assert ran <= {j["job"] for j in day["jobs"] if j["status"] == "ok"}, day["jobs"]
    for job in day["jobs"]:
        cells = _cells(page, job["job"])
        assert job["job"] in cells and job["status"] in cells, (cells, job)
    assert _cells(page, "startup_check")[:2] == ["03:58", "00:58"]  # ET and PT
    _shot(page, "schedule")


def test_a_new_order_appears_without_a_reload(platform: Platform, page: Page) -> None:
    _open(page, platform.ui, "orders")
    before = len(platform.get("/orders", limit=200)["items"])
    _wait_metric(page, "Orders shown", str(before))
    symbol = next(s for s in SPARE if platform.route(s))
    placed = time.monotonic()
    deadline = placed + 10
    while symbol not in _grid_text(page):
        assert time.monotonic() < deadline, f"{symbol} did not appear within 10 s"
        page.wait_for_timeout(200)
    # every run that stored an order is counted (a refused spare may have stored a rejected one)
    after = platform.get("/orders", limit=200)["items"]
    assert len(after) > before and symbol in {o["symbol"] for o in after[: len(after) - before]}
    _wait_metric(page, "Orders shown", str(len(after)), timeout_s=6)


def test_800px_layout_shows_the_key_columns_first(platform: Platform, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 1000})
    narrow = context.new_page()
    try:
        _open(narrow, platform.ui, "orders")
        grid = narrow.locator('[data-testid="stDataFrame"]').first
        grid.wait_for(timeout=15_000)
        header = grid.locator("table tr").first.locator("th")
        header.first.wait_for(state="attached", timeout=15_000)
        shown = [h.strip() for h in header.all_text_contents() if h.strip()]
        assert shown[:4] == ["symbol", "side", "status", "notional"], shown
        box = grid.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 800
        _shot(narrow, "orders-800px")
        _open(narrow, platform.ui, "portfolio")
        positions = narrow.locator('[data-testid="stDataFrame"]').first
        positions.wait_for(timeout=15_000)
        header = positions.locator("table tr").first.locator("th")
        header.first.wait_for(state="attached", timeout=15_000)
        shown = [h.strip() for h in header.all_text_contents() if h.strip()]
        assert shown[:3] == ["symbol", "qty", "avg cost"], shown
        box = positions.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 800
        _shot(narrow, "portfolio-800px")
    finally:
        context.close()


@pytest.fixture
def hung_console(tmp_path: Path) -> Iterator[str]:
    """The console served against an API that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "ui", "--port", str(port)],
        env=_env(tmp_path, API_BASE_URL=f"http://127.0.0.1:{listener.getsockname()[1]}"),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui = f"http://127.0.0.1:{port}/ui/"
    try:
        wait_for(lambda: _answers(f"{ui}_stcore/health"), 60, "ui")
        yield ui
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:  # answer the console's pending requests (with a closed socket) first
            conn.close()
        listener.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_hung_api_keeps_each_page_under_three_seconds(hung_console: str, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        _open(page, hung_console, "orders")  # first load: the browser fetches the app's scripts
        page.get_by_text("did not answer within").first.wait_for(timeout=30_000)
        timings = {}
        for name in ("portfolio", "orders", "backtests", "frames", "risk", "models", "schedule"):
            started = time.monotonic()
            page.goto(f"{hung_console}?page={name}")
            page.locator('.trading-banner[data-state="UNKNOWN"]').wait_for(timeout=10_000)
            if name != "frames":
                page.locator('[data-testid="stAlertContentError"]').first.wait_for(timeout=10_000)
            timings[name] = time.monotonic() - started
        assert max(timings.values()) < 3.0, timings
        assert "Traceback" not in page.content()
    finally:
        context.close()
