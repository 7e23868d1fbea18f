"""The runbook's router smoke on the Event Hubs backend, read back with the runbook's script."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from tests.eventhubs_server.fixtures import eventhubs_server
from tests.eventhubs_server.server import EventHubsTestServer
from tests.servers import REPO, Server

__all__ = ["eventhubs_server"]

SPEC_PAYLOAD = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": False,
}


def _script() -> ModuleType:
    path = REPO / "scripts" / "check_quicksend_eventhubs.py"
    spec = importlib.util.spec_from_file_location("check_quicksend_eventhubs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_smoke_publishes_one_intent_visible_to_the_peek_script(
    eventhubs_server: EventHubsTestServer,
    azurite: Server,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {
        "EH_CONNECTION_STRING": eventhubs_server.connection_string(),
        "AZURE_STORAGE_CONNECTION_STRING": str(azurite.extra["connection_string"]),
        "CHECKPOINT_CONTAINER": f"ckpt-{uuid.uuid4().hex[:12]}",
    }
    settings = make_settings(**env)
    assert settings.bus_backend.kind == "eventhubs"
    services = Container(settings)
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        ok = client.post("/router/run", json=SPEC_PAYLOAD).json()
        halted = client.post("/router/run", json=SPEC_PAYLOAD | {"kill_switch_notional": 1.0}).json()
    for event in ("ingest:synthetic", "priors:computed", "risk:fractional_kelly", "order:published"):
        assert event in ok["events"]
    assert halted["fallback_reason"] == "kill_switch_notional" and halted["published"] is False

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _script().main(["--peek", "10"]) == 0
    out = capsys.readouterr().out
    assert "exec.orders: newest 1 event(s)" in out
    assert "order.intent" in out and ok["intent"]["client_order_id"] in out
    assert " AAPL " in out
