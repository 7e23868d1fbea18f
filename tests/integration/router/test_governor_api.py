"""``POST /kill-switch`` (the governor's states), the router's refusals and limit use, and the CLI."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.app import create_app
from app.bootstrap import Container
from app.cli.main import app as cli
from app.config import Settings

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SMOKE = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": False,
}


def test_governor_states_over_http_and_the_router_follows_them(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    services = Container(
        make_settings(DATABASE_URL=database_url, API_BEARER_TOKEN=TOKEN, RISK_MAX_SYMBOL_WEIGHT=0.5)
    )
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        assert client.post("/kill-switch", json={"state": "HALTED", "reason": "x"}).status_code == 401
        reducing = client.post(
            "/kill-switch", json={"state": "REDUCING", "reason": "wind down", "actor": "ops"}, headers=AUTH
        )
        assert reducing.status_code == 200, reducing.text
        assert (reducing.json()["state"], reducing.json()["active"]) == ("REDUCING", False)
        assert client.get("/kill-switch", headers=AUTH).json()["state"] == "REDUCING"
        assert client.get("/risk/kill-switch", headers=AUTH).json()["state"] == "REDUCING"

        refused = client.post("/router/run", json=SMOKE, headers=AUTH).json()
        assert refused["fallback_reason"] == "kill_switch_reducing"  # nothing is held: nothing reduces
        assert refused["published"] is False and "order:published" not in refused["events"]

        halted = client.post("/kill-switch", json={"state": "HALTED", "reason": "incident"}, headers=AUTH)
        assert (halted.json()["state"], halted.json()["active"]) == ("HALTED", True)
        assert client.post("/router/run", json=SMOKE, headers=AUTH).json()["fallback_reason"] == (
            "kill_switch_active"
        )

        for bad in (
            {"state": "PAUSED", "reason": "x"},
            {"reason": "no state"},
            {"state": "HALTED", "reset": True, "reason": "both"},
            {"state": "ACTIVE", "reason": ""},
        ):
            assert client.post("/kill-switch", json=bad, headers=AUTH).status_code == 422, bad

        reset = client.post("/kill-switch", json={"reset": True, "reason": "reviewed"}, headers=AUTH)
        assert (reset.json()["state"], reset.json()["latched_reason"]) == ("ACTIVE", None)
        ran = client.post("/router/run", json=SMOKE, headers=AUTH).json()
        for event in ("ingest:synthetic", "priors:computed", "risk:fractional_kelly", "order:published"):
            assert event in ran["events"]
        use = ran["guard"]["limit_use"]
        assert 0 < use["max_symbol_weight"] <= 1
        assert ran["guard"]["limit_warnings"] == [n for n in sorted(use) if use[n] >= 0.8]
        history = services.kill_switch.history()
        assert [e.reason for e in history if e.kind == "set"][:3] == ["reset", "on", "reducing"]


def test_cli_reduce_and_reset(make_settings: Callable[..., Settings]) -> None:
    runner = CliRunner()
    reduce = runner.invoke(cli, ["kill-switch", "reduce", "--reason", "drawdown review", "--json"])
    assert reduce.exit_code == 0, reduce.output
    assert '"state": "REDUCING"' in reduce.output
    reset = runner.invoke(cli, ["kill-switch", "reset", "--reason", "reviewed", "--actor", "lead", "--json"])
    assert reset.exit_code == 0, reset.output
    assert '"state": "ACTIVE"' in reset.output and '"actor": "lead"' in reset.output
    on = runner.invoke(cli, ["kill-switch", "on", "--reason", "stop"])
    assert on.exit_code == 0 and "HALTED" in on.output
    missing = runner.invoke(cli, ["kill-switch", "reduce"])
    assert missing.exit_code != 0
    services = Container(make_settings())
    assert services.kill_switch.status().state == "HALTED"
    services.close()
