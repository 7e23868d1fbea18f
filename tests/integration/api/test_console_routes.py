"""The routes the operator console reads: /status, risk history and limits, schedule, sweeps, cancel."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.domain.orders import OrderEvent, OrderSide, OrderStatus
from app.storage.repositories.kill_switch import KillSwitchRepository
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.workers.consumer_status import ConsumerStatus, write_status
from app.workers.schedule import EXCHANGE_ZONE, occurrences
from app.workers.scheduler import Ledger
from tests.factories import record_filled_order
from tests.servers import asgi_server
from tests.unit.execution.alpaca_replay import alpaca_replay_server, load

pytestmark = pytest.mark.integration

TOKEN = "console-test-token"


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[tuple[Container, httpx.Client]]:
    services = Container(make_settings(API_BEARER_TOKEN=TOKEN))
    services.db.upgrade()
    with (
        asgi_server(create_app(container=services)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client,
    ):
        yield services, client


def test_every_console_route_needs_the_token(api: tuple[Container, httpx.Client]) -> None:
    _, client = api
    for path in ("/status", "/risk/kill-switch/history", "/risk/limits", "/schedule/day", "/backtests/runs"):
        assert httpx.get(f"{client.base_url}{path}").status_code == 401, path
    response = httpx.post(f"{client.base_url}/orders/1/cancel", json={"reason": "x"})
    assert response.status_code == 401


def test_status_reports_each_section(api: tuple[Container, httpx.Client]) -> None:
    services, client = api
    settings = services.settings
    body = client.get("/status").json()
    assert body["trading"]["state"] == "ACTIVE"
    assert body["consumers"]["items"][0]["state"] == "never_ran"
    assert body["sweeps"]["health"] == "idle"
    assert body["scheduler"]["last"] is None and body["scheduler"]["next"] is not None
    KillSwitchRepository(services.db).set(True, reason="drill", actor="ops")
    record_filled_order(services.db)
    now = datetime.now(UTC)
    write_status(
        services.blob,
        settings.BLOB_CONTAINER_DATA,
        ConsumerStatus(
            name="order-consumer",
            hub=settings.EH_HUB_ORDERS,
            group=settings.EH_CONSUMER_GROUP,
            state="running",
            lag_seconds=2.5,
            events_behind=3,
            events=10,
            dead_lettered=0,
            heartbeat_s=5.0,
            updated_at=now.isoformat(),
            host="h",
            pid=1,
        ),
    )
    first = next(occurrences(settings, datetime(2026, 11, 30, tzinfo=EXCHANGE_ZONE), days=0))
    Ledger(settings.DATA_DIR / "schedule" / "ledger.jsonl").record(first, "ok", {"duration_s": 1.5})
    body = client.get("/status").json()
    assert body["trading"] | {"since": None} == {
        "state": "HALTED",
        "reason": "drill",
        "actor": "ops",
        "since": None,
        "latched_reason": None,
        "trips_total": 0,
        "error": None,
    }
    consumer = body["consumers"]["items"][0]
    assert consumer["lag_seconds"] == 2.5 and consumer["events_behind"] == 3 and consumer["healthy"]
    assert (
        body["scheduler"]["last"]["job"] == "startup_check" and body["scheduler"]["last"]["duration_s"] == 1.5
    )
    assert body["data"]["newest_order_at"] is not None


def test_risk_history_and_limits(api: tuple[Container, httpx.Client]) -> None:
    _, client = api
    client.post("/risk/kill-switch", json={"active": True, "reason": "halt for test", "actor": "desk"})
    client.post("/risk/kill-switch", json={"active": False, "reason": "resume", "actor": "desk"})
    items = client.get("/risk/kill-switch/history").json()["items"]
    assert [(i["kind"], i["reason"], i["actor"]) for i in items] == [
        ("set", "off", "desk"),
        ("set", "on", "desk"),
    ]
    limits = {i["name"]: i["value"] for i in client.get("/risk/limits").json()["items"]}
    assert set(limits) == {"notional", "daily_loss", "max_open_orders"}
    assert client.get("/risk/kill-switch/history", params={"limit": 0}).status_code == 422


def test_schedule_day_lists_a_sessions_jobs_on_both_clocks(api: tuple[Container, httpx.Client]) -> None:
    _, client = api
    body = client.get("/schedule/day", params={"day": "2026-11-30"}).json()
    assert body["is_session"] is True
    first = body["jobs"][0]
    assert first["job"] == "startup_check"
    assert first["due_et"].startswith("2026-11-30T03:58:00-05:00")
    assert first["due_pt"].startswith("2026-11-30T00:58:00-08:00")
    assert client.get("/schedule/day", params={"day": "2026-11-28"}).json()["jobs"] == []  # Saturday
    far = (date.today() + timedelta(days=800)).isoformat()
    assert client.get("/schedule/day", params={"day": far}).status_code == 422


def test_sweep_configs_are_listed_from_configs_backtest(api: tuple[Container, httpx.Client]) -> None:
    _, client = api
    items = client.get("/backtests/sweeps/configs").json()["items"]
    names = {i["path"]: i for i in items}
    assert "configs/backtest/sma_cross_sweep.yaml" in names
    assert names["configs/backtest/sma_cross_sweep.yaml"]["params"] == ["fast", "slow"]


def _working(db: object, coid: str) -> None:
    event = OrderEvent(
        client_order_id=coid,
        symbol="AAPL",
        side=OrderSide.BUY,
        notional=Decimal("2500"),
        status=OrderStatus.ACCEPTED,
        strategy="breakout",
        ts=datetime(2025, 1, 3, 14, 31, tzinfo=UTC),
    )
    OrdersRepository(db).apply([SourcedOrderEvent(event=event, event_id=f"evt-{coid}")])  # type: ignore[arg-type]


def test_cancel_a_working_order_at_the_broker(make_settings: Callable[..., Settings]) -> None:
    with alpaca_replay_server() as (broker_url, state):
        services = Container(
            make_settings(
                API_BEARER_TOKEN=TOKEN,
                BROKER="alpaca",
                ALPACA_API_KEY="PKTESTKEY",
                ALPACA_API_SECRET="test-secret",
                ALPACA_TRADING_BASE_URL=broker_url,
            )
        )
        services.db.upgrade()
        accepted = load("order_accepted.json")
        accepted["client_order_id"] = "rt-cancel-api"
        state.orders["rt-cancel-api"] = accepted
        _working(services.db, "rt-cancel-api")
        record_filled_order(services.db)
        with (
            asgi_server(create_app(container=services)) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client,
        ):
            assert client.post("/orders/rt-cancel-api/cancel", json={}).status_code == 422  # reason required
            response = client.post("/orders/rt-cancel-api/cancel", json={"reason": "stale", "actor": "desk"})
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "canceled"
            assert client.get("/orders/rt-cancel-api").json()["status"] == "canceled"
            refused = client.post("/orders/AAPL-breakout-20250102/cancel", json={"reason": "late"})
            assert refused.status_code == 409
            assert "is filled" in json.dumps(refused.json())
            assert client.post("/orders/999999/cancel", json={"reason": "x"}).status_code == 404


def test_an_orders_router_run_is_served_once_recorded(api: tuple[Container, httpx.Client]) -> None:
    from app.router.run_records import record_run
    from app.router.schemas import RouterRunResult
    from tests.factories import filled_order

    services, client = api
    order = record_filled_order(services.db)
    assert client.get(f"/orders/{order.client_order_id}/run").status_code == 404
    result = RouterRunResult(
        run_id="run-42",
        symbol="AAPL",
        strategy="breakout",
        vendor="synthetic",
        bars=492,
        latest_bar_time=None,
        signal_bar_time=None,
        regime="trend_up_low_vol",
        events=["ingest:synthetic", "guard:passed", "order:executed", "broker:simulated:filled"],
        intent=filled_order(),
        prob=0.58,
        payoff=1.2,
        frac=0.03,
        notional=556.5,
        guard=None,
        published=True,
        executed=True,
        execution=None,
        fallback_reason=None,
        timings_ms={},
        total_ms=12.5,
    )
    assert record_run(services.blob, services.settings.BLOB_CONTAINER_DATA, result)
    run = client.get(f"/orders/{order.client_order_id}/run").json()
    assert run["run_id"] == "run-42" and run["events"][-1] == "broker:simulated:filled"
    order_id = client.get(f"/orders/{order.client_order_id}").json()["id"]
    assert client.get(f"/orders/{order_id}/run").json()["events"] == result.events


def test_book_and_schedule_follow_the_platform_clock(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """In a replay the book's day, the limits' "as of" and the schedule's default day are the
    replayed clock's, never the wall clock's; heartbeats stay on the wall clock."""
    from app.domain.clock import set_clock_file

    clock_file = tmp_path / "clock.txt"
    replayed = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # 10:30 New York, a Wednesday
    set_clock_file(clock_file, replayed)
    services = Container(
        make_settings(API_BEARER_TOKEN=TOKEN, BROKER="simulated", REPLAY_CLOCK_FILE=str(clock_file))
    )
    services.db.upgrade()
    with (
        asgi_server(create_app(container=services)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client,
    ):
        assert datetime.fromisoformat(client.get("/risk/limit-use").json()["as_of"]) == replayed
        status = client.get("/status").json()
        assert datetime.fromisoformat(status["limits"]["as_of"]) == replayed
        assert datetime.fromisoformat(status["data"]["as_of"]) == replayed
        assert client.get("/schedule/day").json()["session"] == "2026-11-18"
        set_clock_file(clock_file, replayed + timedelta(days=1))
        assert client.get("/schedule/day").json()["session"] == "2026-11-19"
