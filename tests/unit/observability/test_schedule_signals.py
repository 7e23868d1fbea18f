"""Scheduled runs log their start, success (with duration) and failure; ``ai-trader schedule history``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.config import Settings
from app.errors import InputError
from app.observability import JsonFormatter
from app.workers.scheduler import Scheduler

runner = CliRunner()
EASTERN = ZoneInfo("America/New_York")
AT_0401 = datetime(2026, 11, 25, 4, 1, tzinfo=EASTERN)  # startup_check and premarket_scan are due


def _run_two_jobs(settings: Settings, fail: str = "") -> Scheduler:
    def run_job(name: str, session: date) -> dict[str, Any]:
        if name == fail:
            raise RuntimeError("vendor down")
        return {"output": f"/tmp/{session}/{name}.json", "count": 3}

    scheduler = Scheduler(settings, run_job, clock=lambda: AT_0401)
    assert scheduler.run_pending() == 2
    return scheduler


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "app.workers.scheduler"]


def test_start_and_success_are_logged_with_duration(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _run_two_jobs(make_settings())
    lines = _lines(caplog)
    assert [x["msg"] for x in lines] == [
        "schedule: running startup_check for session 2026-11-25",
        "schedule: startup_check succeeded",
        "schedule: running premarket_scan for session 2026-11-25",
        "schedule: premarket_scan succeeded",
    ]
    assert all(x["level"] == "INFO" and x["session"] == "2026-11-25" for x in lines)
    assert "duration_ms" not in lines[0]
    assert lines[1]["job"] == "startup_check" and isinstance(lines[1]["duration_ms"], float)
    assert lines[1]["duration_ms"] >= 0


def test_failure_is_logged_at_error_with_duration_and_traceback(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _run_two_jobs(make_settings(), fail="startup_check")
    failed = next(x for x in _lines(caplog) if x["level"] == "ERROR")
    assert failed["msg"] == "schedule: startup_check failed"
    assert failed["error"] == "RuntimeError: vendor down"
    assert failed["duration_ms"] >= 0 and "RuntimeError: vendor down" in failed["exc"]
    assert "schedule: premarket_scan succeeded" in [x["msg"] for x in _lines(caplog)]


def test_ledger_history_is_newest_first_and_skips_torn_lines(make_settings: Callable[..., Settings]) -> None:
    scheduler = _run_two_jobs(make_settings(), fail="startup_check")
    with scheduler.ledger.path.open("a", encoding="utf-8") as fh:
        fh.write('{"torn": \n')
    runs = scheduler.ledger.history()
    assert [(r["job"], r["status"]) for r in runs] == [("premarket_scan", "ok"), ("startup_check", "error")]
    assert [r["job"] for r in scheduler.ledger.history(limit=1)] == ["premarket_scan"]
    with pytest.raises(InputError, match="limit"):
        scheduler.ledger.history(limit=0)


def test_history_command_shows_a_failed_run(make_settings: Callable[..., Settings]) -> None:
    _run_two_jobs(make_settings(), fail="startup_check")

    result = runner.invoke(app, ["schedule", "history", "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [(r["key"], r["status"]) for r in runs] == [
        ("2026-11-25/premarket_scan", "ok"),
        ("2026-11-25/startup_check", "error"),
    ]
    assert set(runs[1]) == {"key", "job", "session", "due", "finished_at", "status", "detail"}
    assert runs[1]["detail"]["error"] == "RuntimeError: vendor down"
    assert runs[0]["detail"]["count"] == 3 and "duration_s" in runs[0]["detail"]

    table = runner.invoke(app, ["schedule", "history", "--limit", "5"])
    assert table.exit_code == 0, table.output
    assert "Scheduled runs" in table.stdout and "startup_check" in table.stdout
    assert "│ error  │" in table.stdout and "vendor" in table.stdout


def test_history_command_with_no_ledger_yet() -> None:
    result = runner.invoke(app, ["schedule", "history", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert runner.invoke(app, ["schedule", "history", "--limit", "0"]).exit_code == 2
