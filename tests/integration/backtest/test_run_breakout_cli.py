"""``python -m app.backtest.run_breakout``: the runbook command, --json, outputs, recording, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from app.backtest.frames import MANIFEST_NAME, read_manifest
from app.backtest.run_breakout import main

REPO = Path(__file__).resolve().parents[3]
GOOG = REPO / "app" / "dal" / "data" / "GOOG.csv"
SPEC_ARGS = [
    "--symbol", "AAPL", "--start", "2023-01-03", "--end", "2023-02-03",
    "--strategy", "momentum", "--use-probabilistic",
    "--dal-vendor", "synthetic", "--dal-interval", "1Day",
    "--risk-agent", "fractional_kelly", "--risk-agent-fraction", "0.4",
    "--regime-aware-sizing", "--debug",
]  # fmt: skip


def _spec_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ARTIFACTS_DIR", None)  # the runbook's default: ./artifacts
    env.update({"BACKTEST_NO_SAVE": "1", "BACKTEST_OUT_DIR": str(tmp_path / "out")})
    env["PYTHONPATH"] = str(REPO)
    return env


def test_runbook_command_meets_the_three_pass_criteria(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app.backtest.run_breakout", *SPEC_ARGS],
        cwd=tmp_path,
        env=_spec_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    log = proc.stderr
    # 1. the DAL fetch succeeded with matching counts
    (fetch_line,) = [line for line in log.splitlines() if "DAL fetch ok" in line]
    counts = dict(part.split("=") for part in fetch_line.split() if "=" in part)
    assert int(counts["bars"]) == int(counts["signals"]) == int(counts["regimes"]) > 15
    # 2. Fractional Kelly logs a capped fraction per decision
    fracs = [float(line.split("frac=")[1].split()[0]) for line in log.splitlines() if "prob=" in line]
    assert len(fracs) == int(counts["bars"])
    assert all(0.0 <= f <= 0.25 for f in fracs)  # min(--risk-agent-fraction 0.4, RISK_MAX_POSITION_FRACTION)
    assert "prob_frame_path=artifacts/probabilistic/frames/AAPL_momentum_synthetic_1day.parquet" in log
    # 3. the frame file exists with the merged columns and a manifest line
    frame = pd.read_parquet(tmp_path / "artifacts/probabilistic/frames/AAPL_momentum_synthetic_1day.parquet")
    assert len(frame) == int(counts["bars"])
    for column in ("open", "close", "rsi", "regime", "prob", "frac", "position", "equity"):
        assert column in frame.columns
    (entry,) = read_manifest(tmp_path / "artifacts/probabilistic/frames" / MANIFEST_NAME)
    assert entry["source"] == "cli"
    assert entry["symbol"] == "AAPL"
    assert entry["rows"] == len(frame)
    # BACKTEST_OUT_DIR got the run's own outputs; BACKTEST_NO_SAVE kept the database untouched
    (run_dir,) = list((tmp_path / "out").iterdir())
    assert {p.name for p in run_dir.iterdir()} == {"summary.json", "trades.csv", "equity.csv"}
    assert not (tmp_path / "var" / "ai-trader.db").exists()


def test_json_prints_one_object_with_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_NO_SAVE", "1")
    monkeypatch.setenv("BACKTEST_OUT_DIR", str(tmp_path / "out"))
    code = main(
        [
            "--symbol", "GOOG", "--start", "2004-08-19", "--end", "2013-03-01", "--strategy", "sma_cross",
            "--param", "fast=10", "--param", "slow=20", "--dal-vendor", "file", "--data-path", str(GOOG),
            "--allow-short", "--commission", "0.002", "--json",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)
    for key in (
        "symbol", "strategy", "vendor", "interval", "bars", "signals", "regimes", "num_trades", "trades",
        "final_equity", "total_return", "sharpe", "max_drawdown", "prob_frame_path",
    ):  # fmt: skip
        assert key in summary
    assert summary["bars"] == summary["signals"] == summary["regimes"] == 2148
    # sma_cross is state-based: its first trade opens when both means exist (95, was 94 from the first cross)
    assert summary["num_trades"] == len(summary["trades"]) == 95
    assert set(summary["trades"][0]) == {
        "entry_time",
        "exit_time",
        "side",
        "qty",
        "entry_price",
        "exit_price",
        "pnl",
    }
    # the warm-up ends with the fast mean above the slow one; the first down-cross follows
    assert [t["side"] for t in summary["trades"][:2]] == ["long", "short"]
    assert summary["params"] == {"fast": 10, "slow": 20}
    assert Path(summary["prob_frame_path"]).name == "GOOG_sma_cross_file_1day.parquet"
    equity = pd.read_parquet(summary["prob_frame_path"])["equity"]
    assert equity.iloc[-1] == pytest.approx(summary["final_equity"])
    assert np.isfinite(summary["sharpe"])


def test_run_is_recorded_in_backtest_runs_unless_no_save(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BACKTEST_OUT_DIR", str(tmp_path / "out"))
    args = [
        "--symbol",
        "MSFT",
        "--start",
        "2023-01-03",
        "--end",
        "2023-03-31",
        "--strategy",
        "breakout",
        "--json",
    ]
    assert main(args) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    monkeypatch.setenv("BACKTEST_NO_SAVE", "1")
    assert main(args) == 0
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT run_id, source, symbol, strategy, vendor, metrics FROM backtest_runs")
        ).all()
    engine.dispose()
    assert len(rows) == 1
    assert rows[0][:5] == (run_id, "cli", "MSFT", "breakout", "synthetic")
    metrics = rows[0][5] if isinstance(rows[0][5], dict) else json.loads(rows[0][5])
    assert "final_equity" in metrics


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--dal-vendor", "nope"], "unknown market-data vendor 'nope'"),
        (["--start", "2023-02-03", "--end", "2023-01-03"], "is before --start"),
        (["--param", "speed=3"], "has no parameter 'speed'"),
        (["--param", "lookback"], "expected KEY=VALUE"),
        (["--start", "2023-01-07", "--end", "2023-01-08"], "no 1Day bars for AAPL"),
        (["--start", "03/01/2023"], "expected a date"),
        (["--risk-agent", "martingale"], "unknown --risk-agent"),
        (["--risk-agent-fraction", "1.5"], "fraction must be in (0, 1]"),
        (["--fill", "vwap"], "--fill must be"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_NO_SAVE", "1")
    base = {"--symbol": "AAPL", "--start": "2023-01-03", "--end": "2023-02-03", "--strategy": "momentum"}
    args = [item for key, value in base.items() for item in (key, value)] + extra
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ")
    assert message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_unknown_flag_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--symbol", "AAPL", "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")
