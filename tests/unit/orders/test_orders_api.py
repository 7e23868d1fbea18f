from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.domain.orders import OrderStatus
from app.storage.repositories.orders import MAX_PAGE_SIZE, OrdersRepository, SourcedOrderEvent
from tests.integration.orders.scenario import T0, fill, order_event

TOKEN = "orders-test-token"


@pytest.fixture
def services(make_settings: Callable[..., Settings]) -> Iterator[Container]:
    services = Container(make_settings(API_BEARER_TOKEN=TOKEN))
    services.db.upgrade()
    yield services
    services.close()


@pytest.fixture
def client(services: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=services)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test_client


def _seed(services: Container, count: int = 5) -> None:
    events = []
    for i in range(count):
        status = OrderStatus.PARTIALLY_FILLED if i % 2 else OrderStatus.ACCEPTED
        fills = [fill(f"f{i}", "1.50", "101.2500")] if i % 2 else []
        symbol = "AAPL" if i < 3 else "MSFT"
        ts = T0 + timedelta(minutes=i)
        events.append(SourcedOrderEvent(order_event(f"c{i}", status, symbol=symbol, ts=ts, fills=fills)))
    OrdersRepository(services.db).apply(events)


def test_orders_require_the_bearer_token(services: Container) -> None:
    with TestClient(create_app(container=services)) as anonymous:
        assert anonymous.get("/orders").status_code == 401
        assert anonymous.get("/fills").status_code == 401


def test_get_orders_lists_newest_first_and_pages_with_the_cursor(
    services: Container, client: TestClient
) -> None:
    _seed(services)
    first = client.get("/orders", params={"limit": 2})
    assert first.status_code == 200
    body = first.json()
    assert [o["client_order_id"] for o in body["items"]] == ["c4", "c3"]
    second = client.get("/orders", params={"limit": 2, "cursor": body["next_cursor"]}).json()
    assert [o["client_order_id"] for o in second["items"]] == ["c2", "c1"]
    order = second["items"][1]
    assert order["status"] == "partially_filled"
    assert order["filled_qty"] == "1.5"
    assert order["avg_fill_price"] == "101.25"
    assert order["qty"] == "10"
    assert order["created_at"].startswith("2026-11-02T14:31:00")


def test_get_orders_filters_by_symbol_status_and_since(services: Container, client: TestClient) -> None:
    _seed(services)
    by_symbol = client.get("/orders", params={"symbol": "msft"}).json()["items"]
    assert [o["client_order_id"] for o in by_symbol] == ["c4", "c3"]
    by_status = client.get("/orders", params={"status": "accepted"}).json()["items"]
    assert [o["client_order_id"] for o in by_status] == ["c4", "c2", "c0"]
    since = client.get("/orders", params={"since": "2026-11-02T14:33:00Z"}).json()["items"]
    assert [o["client_order_id"] for o in since] == ["c4", "c3"]


def test_get_order_by_client_id_or_numeric_id_includes_fills(services: Container, client: TestClient) -> None:
    _seed(services)
    by_client = client.get("/orders/c3")
    assert by_client.status_code == 200
    body = by_client.json()
    assert [f["venue_fill_id"] for f in body["fills"]] == ["f3"]
    assert body["fills"][0]["price"] == "101.25"
    by_id = client.get(f"/orders/{body['id']}").json()
    assert by_id["client_order_id"] == "c3"
    assert client.get("/orders/99999999999999999999999").status_code == 404
    missing = client.get("/orders/does-not-exist")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_get_fills_filters_by_symbol_and_order(services: Container, client: TestClient) -> None:
    _seed(services)
    fills = client.get("/fills").json()["items"]
    assert [f["venue_fill_id"] for f in fills] == ["f3", "f1"]
    assert [f["venue_fill_id"] for f in client.get("/fills", params={"symbol": "AAPL"}).json()["items"]] == [
        "f1"
    ]
    order_id = client.get("/orders/c3").json()["id"]
    only = client.get("/fills", params={"order_id": order_id}).json()["items"]
    assert [f["client_order_id"] for f in only] == ["c3"]
    assert client.get("/fills", params={"since": "2026-11-03T00:00:00+00:00"}).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/orders", {"limit": "0"}, "limit"),
        ("/orders", {"limit": "many"}, "limit"),
        ("/orders", {"status": "sleeping"}, "status"),
        ("/orders", {"since": "yesterday"}, "since"),
        ("/orders", {"since": "2026-11-02T14:30:00"}, "since"),
        ("/orders", {"cursor": "garbage!"}, "cursor"),
        ("/fills", {"order_id": "-3"}, "order_id"),
        ("/fills", {"order_id": str(2**64)}, "order_id"),
        ("/fills", {"symbol": "AA PL"}, "symbol"),
    ],
)
def test_bad_query_values_are_422_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, str], name: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert name in response.json()["detail"]


def test_limit_above_the_maximum_is_capped(services: Container, client: TestClient) -> None:
    _seed(services, count=MAX_PAGE_SIZE + 1)
    response = client.get("/orders", params={"limit": MAX_PAGE_SIZE * 10})
    assert response.status_code == 200
    assert len(response.json()["items"]) == MAX_PAGE_SIZE
    assert response.json()["next_cursor"] is not None
