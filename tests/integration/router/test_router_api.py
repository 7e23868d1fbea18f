"""``POST /router/run`` over HTTP: the runbook's smoke payload, kill-switch paths, validation,
the Alpaca broker on recorded payloads, and the scale-out backends (PostgreSQL + Redis)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container, build_bus
from app.bus.envelope import Envelope
from app.config import Settings
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE, OrderEvent
from app.router.nodes import client_order_id
from app.storage.models import PositionRow
from tests.integration.router.conftest import TOKEN, api_process
from tests.unit.execution.alpaca_replay import alpaca_replay_server, load

SPEC_PAYLOAD = {
    "symbol": "AAPL",
    "start": "2025-01-02T00:00:00Z",
    "strategy": "breakout",
    "offline_mode": True,
    "publish_orders": True,
    "execute_orders": False,
}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _orders_on_bus(settings: Settings) -> list[Envelope]:
    bus = build_bus(settings)
    consumer = bus.consumer(settings.EH_HUB_ORDERS, "diagnostics")
    try:
        delivered = consumer.poll(max_events=1000, timeout_s=0.1)
    finally:
        consumer.close()
        bus.close()
    return [d.envelope for d in delivered if d.envelope is not None]


def test_runbook_smoke_against_a_started_api(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    data_dir = tmp_path / "api"
    with api_process(data_dir) as url:
        ok = httpx.post(f"{url}/router/run", json=SPEC_PAYLOAD, headers=AUTH, timeout=30)
        active = httpx.post(
            f"{url}/router/run", json=SPEC_PAYLOAD | {"kill_switch_active": True}, headers=AUTH, timeout=30
        )
        low = httpx.post(
            f"{url}/router/run", json=SPEC_PAYLOAD | {"kill_switch_notional": 1.0}, headers=AUTH, timeout=30
        )
        metrics = httpx.get(f"{url}/risk/kill-switch", headers=AUTH, timeout=10).json()
    assert ok.status_code == 200, ok.text
    body = ok.json()
    for event in ("ingest:synthetic", "priors:computed", "risk:fractional_kelly", "order:published"):
        assert event in body["events"]
    assert body["published"] is True and body["fallback_reason"] is None
    assert {"run_id", "intent", "prob", "frac", "notional", "executed", "timings_ms"} <= set(body)

    assert active.json()["fallback_reason"] == "kill_switch_active" and active.json()["published"] is False
    assert low.json()["fallback_reason"] == "kill_switch_notional" and low.json()["published"] is False
    assert metrics["trips"]["kill_switch_active"] == 1 and metrics["trips"]["kill_switch_notional"] == 1

    (intent,) = _orders_on_bus(make_settings(DATA_DIR=data_dir))
    assert intent.type == ORDER_EVENT_INTENT and intent.partition_key == "AAPL"
    assert intent.payload["client_order_id"] == body["intent"]["client_order_id"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"strategy": "moonshot"}, "strategy"),
        ({"symbol": "AA PL"}, "symbol"),
        ({"start": "2025-13-45"}, "start"),
        ({"start": "2999-01-01"}, "start"),
        ({"end": "2024-01-01"}, "end"),
        ({"kill_switch_notional": -5}, "kill_switch_notional"),
        ({"execute_orders": "sometimes"}, "execute_orders"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_payload_is_422_naming_the_field(
    make_settings: Callable[..., Settings], changes: dict[str, Any], field: str
) -> None:
    services = Container(make_settings())
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        response = client.post("/router/run", json=SPEC_PAYLOAD | changes)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert response.headers["content-type"].startswith("application/problem+json")


# target mode on the synthetic vendor at a controlled clock: Tuesday 2026-10-13 after the
# close, when the breakout is flat on the newest bar, so a held position is an exit
FLAT_EVENING = datetime(2026, 10, 13, 21, 0, tzinfo=UTC)
TARGET_PAYLOAD = SPEC_PAYLOAD | {"offline_mode": False, "end": "2026-10-14", "execute_orders": True}


def _alpaca_services(make_settings: Callable[..., Settings], alpaca_url: str, held: Decimal) -> Container:
    """A process on the Alpaca paper account whose book holds ``held`` AAPL shares."""
    settings = make_settings(
        BROKER="alpaca",
        ALPACA_API_KEY="PKTEST",
        ALPACA_API_SECRET="secret",
        ALPACA_TRADING_BASE_URL=alpaca_url,
        DAL_AUTO_ORDER="synthetic",
    )
    services = Container(settings)
    services.db.upgrade()
    with services.db.transaction() as session:
        session.add(
            PositionRow(
                account="alpaca-paper",
                symbol="AAPL",
                qty=held,
                avg_cost=Decimal("228.41"),
                cost_basis=held * Decimal("228.41"),
            )
        )
    router = services.router
    router.context = dataclasses.replace(router.context, clock=lambda: FLAT_EVENING)
    return services


def test_alpaca_execution_replays_recorded_fills_once(make_settings: Callable[..., Settings]) -> None:
    with alpaca_replay_server() as (alpaca_url, replay):
        replay.positions["AAPL"] = load("position_aapl.json")  # the book and the venue agree: 12.5
        services = _alpaca_services(make_settings, alpaca_url, Decimal("12.5"))
        with TestClient(create_app(container=services)) as client:
            first = client.post("/router/run", json=TARGET_PAYLOAD).json()
            again = client.post("/router/run", json=TARGET_PAYLOAD).json()
    assert first["executed"] is True, first
    assert first["decision_mode"] == "target" and first["order_qty"] == -12.5
    assert "broker:alpaca:filled" in first["events"]
    # the same bar again: the first order is found (its reservation), nothing is re-sent
    assert "order:skipped:duplicate" in again["events"] and again["executed"] is False
    assert again["existing_order"]["client_order_id"] == first["intent"]["client_order_id"]
    assert len(replay.posted) == 1
    assert replay.posted[0]["client_order_id"] == first["intent"]["client_order_id"]
    assert replay.posted[0]["side"] == "sell" and float(replay.posted[0]["qty"]) == 12.5
    updates = [e for e in _orders_on_bus(services.settings) if e.type == ORDER_EVENT_UPDATE]
    report = OrderEvent.model_validate(updates[0].payload)
    assert len(report.fills) == 2 and report.status == "filled"


def test_alpaca_refuses_to_sell_what_the_account_does_not_hold(
    make_settings: Callable[..., Settings],
) -> None:
    # the book believes 12.5 shares are held; the venue holds none: the venue is the truth
    with alpaca_replay_server() as (alpaca_url, replay):
        services = _alpaca_services(make_settings, alpaca_url, Decimal("12.5"))
        with TestClient(create_app(container=services)) as client:
            body = client.post("/router/run", json=TARGET_PAYLOAD).json()
    assert body["intent"]["side"] == "sell"
    assert body["executed"] is False and body["fallback_reason"] == "broker_rejected"
    assert replay.posted == []


def test_an_order_still_open_at_alpaca_after_a_crash_is_not_sent_again(
    make_settings: Callable[..., Settings],
) -> None:
    # a process submitted this bar's exit and died before anything was recorded: no reservation,
    # no row in trading.orders, the book unchanged; only the venue knows the (working) order
    bar = datetime(2026, 10, 13, tzinfo=UTC)
    cid = client_order_id("alpaca-paper", "AAPL", "breakout", bar)
    with alpaca_replay_server() as (alpaca_url, replay):
        replay.positions["AAPL"] = load("position_aapl.json")
        working = load("order_accepted.json")
        working["client_order_id"] = cid
        replay.orders[cid] = working
        services = _alpaca_services(make_settings, alpaca_url, Decimal("12.5"))
        with TestClient(create_app(container=services)) as client:
            body = client.post("/router/run", json=TARGET_PAYLOAD).json()
    assert body["intent"]["client_order_id"] == cid
    assert "order:skipped:duplicate" in body["events"] and body["executed"] is False
    assert body["existing_order"]["source"] == "broker"
    assert body["existing_order"]["status"] == working["status"]
    assert replay.posted == []


def test_a_drill_is_not_sent_to_alpaca(make_settings: Callable[..., Settings]) -> None:
    with alpaca_replay_server() as (alpaca_url, replay):
        services = _alpaca_services(make_settings, alpaca_url, Decimal(0))
        with TestClient(create_app(container=services)) as client:
            body = client.post("/router/run", json=SPEC_PAYLOAD | {"execute_orders": True}).json()
    assert body["fallback_reason"] == "drill_not_executable"
    assert body["published"] is False and body["executed"] is False
    assert replay.posted == [] and _orders_on_bus(services.settings) == []


def test_alpaca_without_keys_names_the_cause(make_settings: Callable[..., Settings]) -> None:
    services = Container(make_settings(BROKER="alpaca"))
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        body = client.post("/router/run", json=SPEC_PAYLOAD | {"execute_orders": True}).json()
    assert body["fallback_reason"] == "broker_unconfigured" and body["executed"] is False


def test_postgres_and_redis_backends_run_the_same_flow(
    make_settings: Callable[..., Settings], postgres_url: str, redis_url: str
) -> None:
    settings = make_settings(DATABASE_URL=postgres_url, REDIS_URL=redis_url)
    services = Container(settings)
    services.db.upgrade()
    with TestClient(create_app(container=services)) as client:
        ok = client.post("/router/run", json=SPEC_PAYLOAD).json()
        client.post("/risk/kill-switch", json={"active": True, "reason": "drill", "actor": "tests"})
        halted = client.post("/router/run", json=SPEC_PAYLOAD).json()
    assert ok["published"] is True and "order:published" in ok["events"]
    assert halted["fallback_reason"] == "kill_switch_active" and halted["published"] is False
    assert [e.type for e in _orders_on_bus(settings)] == [ORDER_EVENT_INTENT]
