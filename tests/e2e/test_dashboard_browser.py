"""The dashboard in a real headless Chromium, served by `ai-trader up` next to the API."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from tests.servers import free_port, wait_for

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", "/usr/lib/chromium/chromium"):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    assert found, "chromium is installed by ./dev.sh test"
    return found


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def test_dashboard_renders_its_pages_in_a_browser(tmp_path: Path) -> None:
    api_port, ui_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "var"),
        "ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "PORT": str(api_port),
        "UI_PORT": str(ui_port),
    }
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--only", "api", "--only", "ui"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui = f"http://127.0.0.1:{ui_port}/ui/"
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{api_port}/health/live"), 30, "api")
        wait_for(lambda: _answers(f"http://127.0.0.1:{ui_port}/ui/_stcore/health"), 30, "ui")
        assert httpx.get(ui, timeout=5).status_code == 200  # the Front Door probe
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(ui)
            page.locator('.trading-banner[data-state="ACTIVE"]').wait_for(timeout=30_000)
            page.get_by_text("No open positions.").wait_for(timeout=30_000)  # Portfolio opens first
            page.get_by_text("Orders", exact=True).click()
            page.get_by_text("No orders yet.").wait_for(timeout=30_000)
            page.get_by_text("Risk", exact=True).click()
            page.get_by_text("Refused orders").first.wait_for(timeout=30_000)
            page.get_by_text("Frames", exact=True).click()
            page.get_by_text("Frame viewer").wait_for(timeout=30_000)
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
