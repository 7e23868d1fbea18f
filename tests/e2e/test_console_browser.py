"""The operator console in Debian's Chromium, on a platform seeded by real activity.

``ai-trader up`` runs the API, the console, the order consumer and the sweep consumer on one
``DATA_DIR``; the fixture then drives real work through the API: router runs executed by the
simulated broker, a probabilistic backtest, a sweep that completes and one whose 144 sets all
fail. Each page's key numbers are compared with the API's; screenshots of every page are saved
under ``artifacts/e2e/console/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.test_dashboard_browser import CHROMIUM_ARGS, _chromium
from tests.servers import free_port, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "e2e" / "console"
TOKEN = "console-e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SESSION = "2026-11-30"  # a Monday: the schedule page is checked on a fixed session, not today
ROUTER_RUN = {
    "start": "2025-01-02T00:00:00Z",
    "end": "2026-11-20T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": True,
}
ONLY = ["--only", "api", "--only", "ui", "--only", "order-consumer", "--only", "sweep-consumer"]
CANDIDATES = ["AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM", "XOM", "KO", "PEP", "INTC", "AMD"]


@dataclass
class Platform:
    api: str
    ui: str
    root: Path
    symbols: list[str]  # symbols whose router run produced an executed order, in order
    spare: list[str]  # symbols not yet traded

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
        SIM_ALLOW_SHORT="1",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("console")
    shutil.copytree(REPO / "configs", root / "configs")
    api_port, ui_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", *ONLY],
        env=_env(root, PORT=str(api_port), UI_PORT=str(ui_port)),
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}/ui/"
    try:
        wait_for(lambda: _answers(f"{api}/health/live"), 60, "api")
        wait_for(lambda: _answers(f"{ui}_stcore/health"), 60, "ui")
        seeded = Platform(api=api, ui=ui, root=root, symbols=[], spare=[])
        for index, symbol in enumerate(CANDIDATES):
            if len(seeded.symbols) == 2:
                seeded.spare = CANDIDATES[index:]
                break
            if seeded.route(symbol):
                seeded.symbols.append(symbol)
        assert len(seeded.symbols) == 2, "two router runs should place orders"
        seeded.post(
            "/backtests/run",
            {
                "symbol": "AAPL",
                "start": "2023-01-03",
                "end": "2023-12-29",
                "strategy": "momentum",
                "use_probabilistic": True,
            },
        )
        good = seeded.post("/backtests/sweeps/jobs", {"config_path": "configs/backtest/momentum_sweep.yaml"})
        bad = seeded.post(
            "/backtests/sweeps/jobs",
            {"config_path": "configs/backtest/momentum_sweep.yaml", "symbol": "ZZZZ"},
        )

        def finished() -> bool:
            states = {j["job_id"]: j["status"] for j in seeded.get("/backtests/sweeps/jobs")["items"]}
            return all(states.get(j["job_id"]) in ("completed", "failed") for j in (good, bad))

        wait_for(finished, 240, "both sweeps")
        wait_for(lambda: len(seeded.get("/orders")["items"]) == 2, 30, "the order consumer")
        yield seeded
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


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
    page.get_by_role("option").filter(has_text=option).first.click()


def test_orders_page_numbers_equal_the_apis(platform: Platform, page: Page) -> None:
    orders = platform.get("/orders", limit=200)["items"]
    _open(page, platform.ui, "orders")
    _wait_metric(page, "Orders shown", str(len(orders)))
    assert _metric(page, "Filled") == str(sum(o["status"] == "filled" for o in orders))
    notional = sum(float(o["notional"]) for o in orders)
    assert _metric(page, "Notional") == f"{notional:,.2f}"
    grid = _grid_text(page)
    for order in orders:
        assert order["symbol"] in grid and f"{float(order['notional']):.2f}" in grid
    _choose(page, "Order detail", f"#{orders[0]['id']}")
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


def test_schedule_page_lists_the_sessions_jobs(platform: Platform, page: Page) -> None:
    day = platform.get("/schedule/day", day=SESSION)
    _open(page, platform.ui, "schedule", f"&day={SESSION}")
    _wait_metric(page, "Jobs", str(len(day["jobs"])))
    grid = _grid_text(page)
    assert "03:58" in grid and "00:58" in grid and "startup_check" in grid  # ET and PT
    _shot(page, "schedule")


def test_a_new_order_appears_without_a_reload(platform: Platform, page: Page) -> None:
    _open(page, platform.ui, "orders")
    before = len(platform.get("/orders", limit=200)["items"])
    _wait_metric(page, "Orders shown", str(before))
    symbol = next(s for s in platform.spare if platform.route(s))
    placed = time.monotonic()
    deadline = placed + 10
    while symbol not in _grid_text(page):
        assert time.monotonic() < deadline, f"{symbol} did not appear within 10 s"
        page.wait_for_timeout(200)
    _wait_metric(page, "Orders shown", str(before + 1), timeout_s=2)


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
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def test_a_hung_api_keeps_each_page_under_three_seconds(hung_console: str, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        _open(page, hung_console, "orders")  # first load: the browser fetches the app's scripts
        page.get_by_text("did not answer within").first.wait_for(timeout=30_000)
        timings = {}
        for name in ("orders", "backtests", "frames", "risk", "schedule"):
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
