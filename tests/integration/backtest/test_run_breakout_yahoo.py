"""The runbook's probabilistic backtest with ``--dal-vendor yahoo`` against a local server.

The server answers in Yahoo's chart format (the recorded payload's envelope and metadata,
with a full month of AAPL daily sessions so the momentum strategy trades), and
``YAHOO_BASE_URL`` points the DAL's Yahoo adapter at it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.backtest.frames import MANIFEST_NAME, read_manifest
from tests.integration.dal.vendor_server import FIXTURES, Answer, VendorServer, vendor_server

REPO = Path(__file__).resolve().parents[3]
SPEC_ARGS = [
    "--symbol", "AAPL", "--start", "2023-01-03", "--end", "2023-02-03",
    "--strategy", "momentum", "--use-probabilistic",
    "--dal-vendor", "yahoo", "--dal-interval", "1Day",
    "--risk-agent", "fractional_kelly", "--risk-agent-fraction", "0.4",
    "--regime-aware-sizing", "--debug",
]  # fmt: skip


def yahoo_month_payload() -> bytes:
    """Yahoo's chart envelope for every NYSE session of 2023-01-03..2023-02-03 (float32 prices)."""
    envelope = json.loads((FIXTURES / "yahoo" / "chart_1d.json").read_text())
    result = envelope["chart"]["result"][0]
    # NYSE sessions: weekdays except Martin Luther King Jr. Day (2023-01-16)
    sessions = pd.bdate_range("2023-01-03", "2023-02-03").drop(pd.Timestamp("2023-01-16"))
    opens = [pd.Timestamp(f"{day.date()} 09:30", tz="America/New_York") for day in sessions]
    rng = np.random.default_rng(7)
    close = (125.07 * np.exp(np.cumsum(rng.normal(0.003, 0.015, len(opens))))).astype(np.float32)
    open_ = (close * np.exp(rng.normal(0, 0.005, len(opens)))).astype(np.float32)
    high = (np.maximum(open_, close) * np.float32(1.01)).astype(np.float32)
    low = (np.minimum(open_, close) * np.float32(0.99)).astype(np.float32)
    result["timestamp"] = [int(ts.timestamp()) for ts in opens]
    result["indicators"]["quote"] = [
        {
            "volume": [int(v) for v in rng.integers(50_000_000, 120_000_000, len(opens))],
            "close": [float(x) for x in close],
            "open": [float(x) for x in open_],
            "low": [float(x) for x in low],
            "high": [float(x) for x in high],
        }
    ]
    result["indicators"]["adjclose"] = [{"adjclose": [float(x) for x in close]}]
    return json.dumps(envelope).encode()


@pytest.fixture
def yahoo() -> Iterator[VendorServer]:
    with vendor_server() as server:
        yield server


def test_runbook_command_with_yahoo_meets_the_pass_criteria(tmp_path: Path, yahoo: VendorServer) -> None:
    yahoo.state.queue("yahoo", Answer(200, yahoo_month_payload()))
    env = dict(os.environ)
    env.pop("ARTIFACTS_DIR", None)
    env.update({key: str(value) for key, value in yahoo.settings_values().items()})
    env.update({"BACKTEST_NO_SAVE": "1", "BACKTEST_OUT_DIR": str(tmp_path / "out"), "PYTHONPATH": str(REPO)})
    proc = subprocess.run(
        [sys.executable, "-m", "app.backtest.run_breakout", *SPEC_ARGS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (request,) = yahoo.state.seen("yahoo")
    assert request.path.endswith("/v8/finance/chart/AAPL")
    assert request.query["interval"] == "1d"

    log = proc.stderr.splitlines()
    (fetch_line,) = [line for line in log if "DAL fetch ok" in line]
    counts = dict(part.split("=") for part in fetch_line.split() if "=" in part)
    assert counts["vendor"] == "yahoo"
    assert int(counts["bars"]) == int(counts["signals"]) == int(counts["regimes"]) == 23
    decisions = [line for line in log if "prob=" in line and "frac=" in line]
    assert len(decisions) == 23
    fracs = [float(line.split("frac=")[1].split()[0]) for line in decisions]
    assert all(0.0 <= f <= 0.25 for f in fracs)
    assert max(fracs) > 0.0  # Kelly found an edge somewhere and sized it under the cap

    frame_path = tmp_path / "artifacts/probabilistic/frames/AAPL_momentum_yahoo_1day.parquet"
    frame = pd.read_parquet(frame_path)
    assert len(frame) == 23
    assert frame.index[0] == pd.Timestamp("2023-01-03", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2023-02-03", tz="UTC")
    (entry,) = read_manifest(frame_path.parent / MANIFEST_NAME)
    assert (entry["vendor"], entry["interval"], entry["rows"]) == ("yahoo", "1Day", 23)
