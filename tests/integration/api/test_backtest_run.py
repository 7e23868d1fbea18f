from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    services = Container(make_settings(API_BEARER_TOKEN="tok"))
    services.db.upgrade()
    with TestClient(create_app(container=services), headers={"Authorization": "Bearer tok"}) as test_client:
        yield test_client
    services.close()


BODY = {
    "symbol": "AAPL",
    "start": "2023-01-03",
    "end": "2023-02-03",
    "strategy": "momentum",
    "use_probabilistic": True,
    "dal_vendor": "synthetic",
    "dal_interval": "1Day",
    "risk_agent": "fractional_kelly",
    "risk_agent_fraction": 0.4,
    "regime_aware_sizing": True,
}


def test_api_backtest_returns_the_frame_path_and_registers_it(client: TestClient) -> None:
    response = client.post("/backtests/run", json=BODY)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["bars"] == summary["signals"] == summary["regimes"] == 24
    frame = Path(summary["prob_frame_path"])
    assert frame.name == "AAPL_momentum_synthetic_1day.parquet"
    assert frame.exists()
    manifest = [json.loads(line) for line in (frame.parent / "manifest.jsonl").read_text().splitlines()]
    assert manifest[-1]["source"] == "api"
    assert manifest[-1]["run_id"] == summary["run_id"]


def test_api_backtest_needs_the_bearer_token(client: TestClient) -> None:
    assert client.post("/backtests/run", json=BODY, headers={"Authorization": ""}).status_code == 401


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"end": "2022-12-01"}, "end is before start"),
        ({"strategy": "astrology"}, "astrology"),
        ({"risk_agent": "yolo"}, "risk_agent"),
        ({"dal_vendor": "nowhere"}, "nowhere"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_requests_are_422_naming_the_problem(
    client: TestClient, change: dict[str, object], named: str
) -> None:
    response = client.post("/backtests/run", json={**BODY, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.text
