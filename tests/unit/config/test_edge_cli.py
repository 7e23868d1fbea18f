"""Issue 16: hostile CLI input and environments give one clear line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.config import Settings, load_settings
from app.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
BACKTEST = ["-m", "app.backtest.run_breakout", "--symbol", "AAPL", "--strategy", "breakout"]
WINDOW = ["--start", "2024-01-02", "--end", "2024-02-01"]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base.update(PYTHONPATH=str(REPO), DATA_DIR=str(cwd / "var"), ARTIFACTS_DIR=str(cwd / "artifacts"))
    base.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=base, capture_output=True, text=True, timeout=180, check=False
    )


def _one_clear_line(done: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert fragment in errors[0], errors[0]


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A path below a regular file: no process (not even root) can create it."""
    file = tmp_path / "a-file"
    file.write_text("", encoding="utf-8")
    return file / "below"


def test_non_utf8_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"LOG_LEVEL=\xff\xfe\n")
    _one_clear_line(_run(["-m", "app.cli", "config", "show"], tmp_path), "not UTF-8")


def test_unwritable_data_dir(tmp_path: Path, blocked: Path) -> None:
    _one_clear_line(
        _run(["-m", "app.cli", "db", "upgrade"], tmp_path, DATA_DIR=str(blocked)), "Not a directory"
    )
    done = _run([*BACKTEST, *WINDOW], tmp_path, DATA_DIR=str(blocked))
    _one_clear_line(done, "Not a directory")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--warmup-bars", "1000000000"], "warm-up must be 0 to 100,000 bars"),
        (["--start", "9999-01-02", "--end", "9999-02-01"], "start must be between"),
        (["--initial-cash", "inf"], "initial_cash must be a finite number"),
        (["--param", "entry_window=1e300"], "entry_window"),
    ],
)
def test_hostile_backtest_flags(tmp_path: Path, extra: list[str], fragment: str) -> None:
    _one_clear_line(_run([*BACKTEST, *WINDOW, *extra], tmp_path), fragment)


def test_dal_smoke_far_future_and_unwritable_output(tmp_path: Path, blocked: Path) -> None:
    smoke = [str(REPO / "scripts" / "dal_smoke.py"), "--check", "synthetic:AAPL:1Day:30"]
    _one_clear_line(_run([*smoke, "--as-of", "2999-01-01"], tmp_path), "--as-of must be between")
    _one_clear_line(_run([*smoke, "--output-dir", str(blocked)], tmp_path), "Not a directory")


def test_sweep_entry_unwritable_output_and_unmigrated_database(tmp_path: Path, blocked: Path) -> None:
    entry = [str(REPO / "scripts" / "sweep_job_entry.py")]
    config = str(REPO / "configs" / "backtest" / "momentum_sweep.yaml")
    _one_clear_line(
        _run(entry, tmp_path, SWEEP_CONFIG_PATH=config, OUTPUT_DIR=str(blocked)), "Not a directory"
    )
    done = _run(
        entry, tmp_path, SWEEP_CONFIG_PATH=config, SWEEP_JOB_ID="job-1", OUTPUT_DIR=str(tmp_path / "o")
    )
    _one_clear_line(done, "ai-trader db upgrade")


def test_a_failed_backtest_out_dir_write_leaves_no_frame_nor_manifest_line(
    tmp_path: Path, blocked: Path
) -> None:
    done = _run([*BACKTEST, *WINDOW], tmp_path, BACKTEST_OUT_DIR=str(blocked))
    _one_clear_line(done, "BACKTEST_OUT_DIR")
    frames = tmp_path / "artifacts" / "probabilistic" / "frames"
    assert not frames.exists() or not any(frames.iterdir()), list(frames.iterdir())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("KILL_SWITCH_NOTIONAL", "inf"),
        ("RISK_ACCOUNT_EQUITY", "inf"),
        ("KILL_SWITCH_DAILY_LOSS_LIMIT", "nan"),
        ("EH_FQDN", "ns.servicebus.windows.net\tevil"),
        ("EH_FQDN", "ns .servicebus.windows.net"),
    ],
)
def test_nonsense_settings_are_refused(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=key):
        load_settings(_env_file=None)


def test_sane_settings_still_load(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(KILL_SWITCH_NOTIONAL=5000, EH_FQDN="ai-trader-ehns.servicebus.windows.net")
    assert settings.KILL_SWITCH_NOTIONAL == 5000
