"""Kill switch changes and trips are logged as JSON lines; ``ai-trader kill-switch history``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.errors import InputError
from app.observability import JsonFormatter
from app.risk.guard import GuardLimits, GuardRequest, OrderGuard
from app.risk.kill_switch import KILL_SWITCH_ACTIVE, KILL_SWITCH_NOTIONAL
from app.storage.db import Database
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository

runner = CliRunner()
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'var' / 'ai-trader.db'}")
    database.upgrade()
    yield database
    database.dispose()


def _json_lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == logger]


def test_switch_changes_are_logged_with_who_and_why(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    store = KillSwitchRepository(db)
    store.set(True, reason="broker outage", actor="ops-alice")
    store.set(False, reason="drill over", actor="ops-bob")
    on, off = _json_lines(caplog, "app.risk.kill_switch")
    assert on["level"] == "WARNING" and on["msg"] == "kill switch turned on"
    assert (on["active"], on["actor"], on["reason"]) == (True, "ops-alice", "broker outage")
    assert off["level"] == "INFO" and off["msg"] == "kill switch turned off"
    assert (off["active"], off["actor"], off["reason"]) == (False, "ops-bob", "drill over")


def test_refused_order_is_logged_with_reason_symbol_and_notional(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    guard = OrderGuard(GuardRepository(db), GuardLimits(notional=1_000))
    assert guard.check(GuardRequest(symbol="MSFT", notional=500), now=NOW).allowed
    guard.check(GuardRequest(symbol="AAPL", notional=5_000.5), now=NOW)
    guard.check(GuardRequest(symbol="TSLA", notional=float("nan")), now=NOW)
    first, second = _json_lines(caplog, "app.risk.guard")
    assert first["level"] == "WARNING" and first["msg"] == "order refused by the kill switch"
    assert (first["reason"], first["symbol"], first["notional"]) == (KILL_SWITCH_NOTIONAL, "AAPL", 5000.5)
    assert "above KILL_SWITCH_NOTIONAL 1000.00" in first["detail"]
    # a non-finite notional is logged as text, so the line stays valid JSON
    assert (second["symbol"], second["notional"]) == ("TSLA", "nan")


def test_history_lists_changes_and_trips_newest_first(db: Database) -> None:
    store = KillSwitchRepository(db)
    store.set(True, reason="halt", actor="ops")
    OrderGuard(GuardRepository(db), GuardLimits()).check(GuardRequest(symbol="AAPL", notional=10), now=NOW)
    store.set(False, reason="resumed", actor="ops")
    events = store.history()
    assert [(e.kind, e.reason) for e in events] == [
        ("set", "off"),
        ("trip", KILL_SWITCH_ACTIVE),
        ("set", "on"),
    ]
    assert events[1].symbol == "AAPL" and events[1].detail == "global kill switch is on"
    assert events[0].ts >= events[1].ts >= events[2].ts and events[0].ts.tzinfo is not None
    assert [e.reason for e in store.history(limit=1)] == ["off"]
    with pytest.raises(InputError, match="limit"):
        store.history(limit=0)


def test_history_command_prints_json_and_a_table(db: Database) -> None:
    store = KillSwitchRepository(db)
    store.set(True, reason="broker outage drill", actor="ops-alice")
    OrderGuard(GuardRepository(db), GuardLimits()).check(GuardRequest(symbol="AAPL", notional=10), now=NOW)

    result = runner.invoke(app, ["kill-switch", "history", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [list(r) for r in rows] == [["id", "ts", "kind", "reason", "actor", "symbol", "detail"]] * 2
    assert (rows[0]["kind"], rows[0]["reason"], rows[0]["symbol"]) == ("trip", KILL_SWITCH_ACTIVE, "AAPL")
    assert (rows[1]["kind"], rows[1]["reason"], rows[1]["actor"]) == ("set", "on", "ops-alice")
    assert rows[1]["detail"] == "broker outage drill"
    assert datetime.fromisoformat(rows[0]["ts"]).tzinfo is not None

    limited = runner.invoke(app, ["kill-switch", "history", "--limit", "1", "--json"])
    assert [r["kind"] for r in json.loads(limited.stdout)] == ["trip"]

    table = runner.invoke(app, ["kill-switch", "history"])
    assert table.exit_code == 0, table.output
    assert "Kill switch events" in table.stdout and "ops-alice" in table.stdout and "AAPL" in table.stdout


def test_history_command_on_an_empty_table_prints_an_empty_array() -> None:
    result = runner.invoke(app, ["kill-switch", "history", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert runner.invoke(app, ["kill-switch", "history", "--limit", "0"]).exit_code == 2
