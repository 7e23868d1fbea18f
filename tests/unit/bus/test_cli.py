"""``ai-trader bus topology|provision|lag|dead-letters``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli.main import app

runner = CliRunner()


def test_topology_json_lists_the_runbook_hubs() -> None:
    result = runner.invoke(app, ["bus", "topology", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    shape = {h["name"]: (h["partitions"], h["retention_hours"]) for h in payload["hubs"]}
    assert shape == {
        "bars.raw": (6, 24),
        "signals.enriched": (4, 48),
        "regimes.snapshot": (4, 48),
        "backtest.jobs": (2, 72),
        "exec.orders": (2, 24),
    }
    assert all(
        h["consumer_groups"] == ["api", "ui", "orchestrator", "sweeper", "diagnostics"]
        for h in payload["hubs"]
    )
    assert payload["backend"]["kind"] == "local"


def test_topology_uses_hub_names_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EH_HUB_ORDERS", "orders.test")
    result = runner.invoke(app, ["bus", "topology"])
    assert result.exit_code == 0, result.output
    assert "orders.test" in result.output
    assert "EH_HUB_ORDERS" in result.output


def test_provision_creates_the_local_log() -> None:
    result = runner.invoke(app, ["bus", "provision"])
    assert result.exit_code == 0, result.output
    assert "hub bars.raw: 6 partitions, 24 h retention" in result.output


def test_provision_on_eventhubs_prints_az_commands_and_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EH_FQDN", "ai-trader-ehns.servicebus.windows.net")
    result = runner.invoke(app, ["bus", "provision"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "az eventhubs eventhub create -g ai-trader-rg --namespace-name ai-trader-ehns -n bars.raw "
        "--partition-count 6 --cleanup-policy Delete --retention-time-in-hours 24" in lines
    )
    groups = [line for line in lines if "consumer-group create" in line]
    assert len(groups) == 25
    assert lines[-1].startswith("az eventhubs eventhub list -g ai-trader-rg --namespace-name ai-trader-ehns")
    assert "retentionDescription.retentionTimeInHours" in lines[-1]


def test_lag_and_dead_letters_print_tables() -> None:
    lag = runner.invoke(app, ["bus", "lag", "exec.orders", "orchestrator"])
    assert lag.exit_code == 0, lag.output
    assert "Lag of orchestrator on exec.orders" in lag.output
    letters = runner.invoke(app, ["bus", "dead-letters", "exec.orders", "orchestrator"])
    assert letters.exit_code == 0, letters.output


def test_unknown_hub_exits_with_one_line() -> None:
    result = runner.invoke(app, ["bus", "lag", "nope", "api"])
    assert result.exit_code == 1
    assert "unknown hub 'nope'" in result.output
