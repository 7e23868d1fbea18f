"""``ai-trader up`` restarts the venue-updates worker when it gives up on the venue (exit 1)
instead of stopping the platform, and stops it with the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import REPO, free_port, wait_for

pytestmark = pytest.mark.integration


def test_up_restarts_a_venue_worker_that_gave_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EH_", "BUS_", "REDIS_", "DATABASE_"))}
    env.update(
        DATA_DIR=str(tmp_path / "var"),
        ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        LOG_LEVEL="WARNING",
        BROKER="alpaca",
        ALPACA_API_KEY="key",
        ALPACA_API_SECRET="secret",
        ALPACA_TRADING_BASE_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens: every connect fails
        VENUE_RECONNECT_MAX_ATTEMPTS="1",
        VENUE_RECONNECT_INITIAL_S="0.1",
        VENUE_RECONNECT_MAX_S="0.2",
    )
    out = tmp_path / "up.out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", "--only", "venue-updates"],
            cwd=REPO,
            env=env,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: out.read_text(encoding="utf-8").count("started venue-updates") >= 2,
                90,
                "up restarting venue-updates",
            )
            assert proc.poll() is None  # the platform kept running
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    text = out.read_text(encoding="utf-8")
    assert "venue-updates exited with code 1; restarting it in 5 s" in text
    assert "stopping the platform" not in text
