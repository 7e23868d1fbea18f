"""``ai-trader backtest run``, ``ai-trader sweep run`` and ``ai-trader data smoke`` give what the
runbook's commands (``python -m app.backtest.run_breakout``, ``scripts/sweep_job_entry.py``,
``scripts/dal_smoke.py``) give: the same options, the same outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from app.backtest.run_breakout import main as run_breakout
from app.cli.main import app

REPO = Path(__file__).resolve().parents[3]
BACKTEST_ARGS = [
    "--symbol", "AAPL", "--start", "2023-01-03", "--end", "2023-02-03",
    "--strategy", "momentum", "--use-probabilistic",
    "--dal-vendor", "synthetic", "--dal-interval", "1Day",
    "--risk-agent", "fractional_kelly", "--risk-agent-fraction", "0.4",
    "--regime-aware-sizing", "--json",
]  # fmt: skip
SWEEP_YAML = (
    "name: entry_points\nsymbols: [GOOG]\nvendor: sample\nstart: 2010-01-04\nend: 2012-12-31\n"
    "strategy: sma_cross\nparams: {fast: [5, 10], slow: [30, 50]}\n"
)


def _env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"PYTHONPATH": str(REPO), "DATA_DIR": str(tmp_path / "var")}, **more)
    env["ARTIFACTS_DIR"] = str(tmp_path / "artifacts")
    return env


def _without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


def test_backtest_run_prints_what_run_breakout_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKTEST_NO_SAVE", "1")
    assert run_breakout(BACKTEST_ARGS) == 0
    shim = json.loads(capsys.readouterr().out)
    result = CliRunner().invoke(app, ["backtest", "run", *BACKTEST_ARGS])
    assert result.exit_code == 0, result.output
    new = json.loads(result.stdout.strip().splitlines()[-1])
    assert shim["run_id"] != new["run_id"]  # two runs ...
    assert _without(new, "run_id") == _without(shim, "run_id")  # ... with the same outcome
    assert new["num_trades"] > 0 and new["bars"] == 24


def test_backtest_run_has_the_shims_options_and_exit_codes() -> None:
    runner = CliRunner()
    helped = runner.invoke(app, ["backtest", "run", "--help"])
    assert helped.exit_code == 0
    for flag in (
        "--risk-agent-fraction",
        "--regime-aware-sizing",
        "--data-path",
        "--publish",
        "--warmup-bars",
    ):
        assert flag in helped.stdout
    assert "usage: ai-trader backtest run" in helped.stdout
    bad = runner.invoke(app, ["backtest", "run", *BACKTEST_ARGS, "--risk-agent-fraction", "1.5"])
    assert bad.exit_code == 2
    assert "fraction must be in (0, 1]" in bad.stderr


def test_sweep_run_writes_what_the_sweep_job_entry_script_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(SWEEP_YAML)
    script_out, cli_out = tmp_path / "script-out", tmp_path / "cli-out"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sweep_job_entry.py")],
        env=_env(tmp_path, SWEEP_CONFIG_PATH=str(config), SWEEP_OUTPUT_DIR=str(script_out)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    monkeypatch.setenv("SWEEP_CONFIG_PATH", str(tmp_path / "not-this.yaml"))  # options win over env
    result = CliRunner().invoke(app, ["sweep", "run", "--config", str(config), "--output-dir", str(cli_out)])
    assert result.exit_code == 0, result.output
    script_board = pd.read_csv(script_out / "leaderboard.csv")
    cli_board = pd.read_csv(cli_out / "leaderboard.csv")
    assert len(cli_board) == 4
    pd.testing.assert_frame_equal(cli_board, script_board)


def test_sweep_run_refuses_a_missing_config_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sweep", "run", "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")


def test_data_smoke_writes_the_report_dal_smoke_writes(tmp_path: Path) -> None:
    args = ["--check", "synthetic:AAPL:1Day:30", "--check", "sample:GOOG:1Day:30", "--as-of", "2012-12-31"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "dal_smoke.py"), *args, "--output-dir", str(tmp_path / "a")],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = CliRunner().invoke(app, ["data", "smoke", *args, "--output-dir", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    (script_report,) = (tmp_path / "a").glob("dal_smoke_*.json")
    (cli_report,) = (tmp_path / "b").glob("dal_smoke_*.json")
    volatile = ("run_id", "started_at", "finished_at")
    script_data, cli_data = json.loads(script_report.read_text()), json.loads(cli_report.read_text())
    assert _without(cli_data, *volatile, "checks") == _without(script_data, *volatile, "checks")
    per_check = [[_without(c, "latency_ms") for c in data["checks"]] for data in (script_data, cli_data)]
    assert per_check[0] == per_check[1] and len(per_check[0]) == 2
    assert all(c["status"] == "ok" for c in cli_data["checks"])
