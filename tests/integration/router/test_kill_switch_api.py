"""``/risk/kill-switch`` over HTTP on SQLite and PostgreSQL, and the CLI on the same database."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.app import create_app
from app.bootstrap import Container
from app.cli.main import app as cli
from app.config import Settings


def test_kill_switch_round_trip_records_actor_reason_and_trips(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    services = Container(make_settings(DATABASE_URL=database_url, API_BEARER_TOKEN="s3cret-token"))
    services.db.upgrade()
    headers = {"Authorization": "Bearer s3cret-token"}
    with TestClient(create_app(container=services)) as client:
        assert client.get("/risk/kill-switch").status_code == 401
        initial = client.get("/risk/kill-switch", headers=headers).json()
        assert initial["active"] is False and initial["trips_total"] == 0
        assert set(initial["trips"]) >= {
            "kill_switch_active",
            "kill_switch_notional",
            "kill_switch_unavailable",
        }

        on = client.post(
            "/risk/kill-switch",
            json={"active": True, "reason": "halt for review", "actor": "ops"},
            headers=headers,
        )
        assert on.status_code == 200, on.text
        assert (on.json()["active"], on.json()["actor"], on.json()["reason"]) == (
            True,
            "ops",
            "halt for review",
        )
        assert client.get("/risk/kill-switch", headers=headers).json()["active"] is True

        bad = client.post("/risk/kill-switch", json={"active": "maybe", "reason": ""}, headers=headers)
        assert bad.status_code == 422
        assert "active" in bad.json()["detail"] and "reason" in bad.json()["detail"]


def test_cli_sets_the_switch_the_api_reads(make_settings: Callable[..., Settings]) -> None:
    runner = CliRunner()
    on = runner.invoke(cli, ["kill-switch", "on", "--reason", "vendor outage", "--actor", "night-ops"])
    assert on.exit_code == 0, on.output
    status = runner.invoke(cli, ["kill-switch", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert '"active": true' in status.output and "night-ops" in status.output

    services = Container(make_settings())
    with TestClient(create_app(container=services)) as client:
        body = client.get("/risk/kill-switch").json()
    assert (body["active"], body["reason"]) == (True, "vendor outage")

    off = runner.invoke(cli, ["kill-switch", "off", "--reason", "resolved"])
    assert off.exit_code == 0 and "off" in off.output
    missing = runner.invoke(cli, ["kill-switch", "on"])
    assert missing.exit_code == 2


def test_cli_router_run_prints_the_result_and_refuses_bad_input() -> None:
    import json

    runner = CliRunner()
    args = ["router", "run", "--symbol", "AAPL", "--start", "2025-01-02", "--end", "2026-11-20"]
    ok = runner.invoke(cli, [*args, "--strategy", "breakout", "--offline-mode", "--publish-orders", "--json"])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.stdout[ok.stdout.index('{\n  "run_id"') :])
    assert "order:published" in body["events"] and body["published"] is True
    halted = runner.invoke(cli, [*args, "--strategy", "breakout", "--offline-mode", "--kill-switch-active"])
    assert halted.exit_code == 0 and "fallback_reason=kill_switch_active" in halted.output
    bad = runner.invoke(cli, [*args, "--strategy", "moonshot", "--offline-mode"])
    assert bad.exit_code == 2 and "strategy" in bad.output
