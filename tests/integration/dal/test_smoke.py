"""scripts/dal_smoke.py against the recorded-vendor server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from app.cli.data import smoke_main as main
from app.dal.smoke import DEFAULT_CHECKS, parse_check, session_close
from app.errors import InputError
from tests.integration.dal.vendor_server import Answer, VendorServer, fixture

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def vendor_env(vendors: VendorServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {k: str(v) for k, v in vendors.settings_values().items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _report(out: Path) -> dict[str, Any]:
    (path,) = sorted(out.glob("dal_smoke_*.json"))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=160)


def test_default_checks_are_ok_with_matching_counts(
    vendor_env: dict[str, str], vendors: VendorServer, tmp_path: Path
) -> None:
    out = tmp_path / "dal_smoke"
    assert main(["--output-dir", str(out), "--as-of", "2023-01-10"], console=_quiet()) == 0
    report = _report(out)
    assert report["as_of"] == "2023-01-10" and report["started_at"].endswith("Z")
    checks = report["checks"]
    assert [(c["vendor"], c["interval"]) for c in checks] == [(c.vendor, c.interval) for c in DEFAULT_CHECKS]
    for c in checks:
        assert c["status"] == "ok" and c["error"] is None, c
        assert c["bars"] == c["signals"] == c["regimes"] == 6, c
        assert Path(c["cache_path"]).is_file()
        assert c["latency_ms"] >= 0 and c["lookback_days"] > 0
    daily = checks[0]
    assert daily["first"] == "2023-01-03T00:00:00Z" and daily["last"] == "2023-01-10T00:00:00Z"
    intraday = checks[1]
    assert intraday["first"] == "2023-01-03T14:30:00Z" and intraday["last"] == "2023-01-03T20:55:00Z"
    assert checks[-1]["quote"] == {"price": 191.33, "time": "2023-07-05T20:00:01Z", "previous_close": 192.46}
    # the smoke test never answers from the cache: a second run asks every vendor again
    before = len(vendors.seen("yahoo"))
    assert main(["--output-dir", str(tmp_path / "again"), "--as-of", "2023-01-10"], console=_quiet()) == 0
    assert len(vendors.seen("yahoo")) == before + 1


def test_one_failing_vendor_writes_the_report_and_exits_1(
    vendor_env: dict[str, str], vendors: VendorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAL_MAX_RETRIES", "1")
    vendors.queue(
        "twelvedata", *[Answer(503, b'{"code":503,"message":"upstream down","status":"error"}')] * 2
    )
    out = tmp_path / "dal_smoke"
    assert main(["--output-dir", str(out), "--as-of", "2023-01-10"], console=_quiet()) == 1
    checks = {c["vendor"] + c["interval"]: c for c in _report(out)["checks"]}
    failed = checks["twelvedata1Day"]
    assert failed["status"] == "error" and "upstream down" in failed["error"] and failed["bars"] == 0
    assert failed["cache_path"] is None
    assert all(c["status"] == "ok" for k, c in checks.items() if k != "twelvedata1Day")


def test_finnhub_quote_carries_the_check_when_candles_are_not_in_the_plan(
    vendor_env: dict[str, str], vendors: VendorServer, tmp_path: Path
) -> None:
    vendors.queue("finnhub", Answer(403, fixture("finnhub", "error_403.json")))
    out = tmp_path / "dal_smoke"
    code = main(
        ["--output-dir", str(out), "--as-of", "2023-01-10", "--check", "finnhub:AAPL:1Day:30"], _quiet()
    )
    assert code == 0
    (check,) = _report(out)["checks"]
    assert check["status"] == "ok" and check["bars"] == 0 and "don't have access" in check["candles_error"]
    assert check["quote"]["price"] == 191.33


def test_empty_answer_is_an_error(vendor_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "dal_smoke"
    assert (
        main(["--output-dir", str(out), "--as-of", "2023-01-10", "--check", "alpaca:ZZZZ:1Day:10"], _quiet())
        == 1
    )
    (check,) = _report(out)["checks"]
    assert check["status"] == "error" and "no bars" in check["error"]


def test_bad_arguments_exit_2(vendor_env: dict[str, str], tmp_path: Path) -> None:
    assert main(["--output-dir", str(tmp_path), "--check", "yahoo:AAPL:1Day"], _quiet()) == 2
    assert main(["--output-dir", str(tmp_path), "--as-of", "01/10/2023"], _quiet()) == 2
    assert list(tmp_path.glob("dal_smoke_*.json")) == []
    with pytest.raises(InputError, match="unknown interval"):
        parse_check("yahoo:AAPL:1d:5")
    with pytest.raises(InputError, match="unknown vendor"):
        parse_check("bloomberg:AAPL:1Day:5")
    assert parse_check("finnhub:MSFT:5Min:3").quote


def test_session_close_follows_the_exchange_calendar() -> None:
    assert session_close(date(2023, 1, 10)).isoformat() == "2023-01-10T21:00:00+00:00"
    assert session_close(date(2023, 7, 3)).isoformat() == "2023-07-03T17:00:00+00:00"  # early close
    assert session_close(date(2023, 1, 7)).isoformat() == "2023-01-07T21:00:00+00:00"  # Saturday


def test_script_runs_from_the_repo_root(vendor_env: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **vendor_env, "DATA_DIR": str(tmp_path / "var")}
    out = tmp_path / "dal_smoke"
    done = subprocess.run(
        [
            sys.executable,
            "scripts/dal_smoke.py",
            "--output-dir",
            str(out),
            "--as-of",
            "2023-01-10",
            "--check",
            "yahoo:AAPL:1Day:30",
            "--check",
            "yahoo:NOPE:1Day:30",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "DAL smoke" in done.stdout and "dal_smoke_" in done.stdout
    checks = _report(out)["checks"]
    assert [c["status"] for c in checks] == ["ok", "error"]
    assert "symbol may be delisted" in checks[1]["error"]
