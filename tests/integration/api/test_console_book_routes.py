"""The console's book, limit-use, governor and models routes on a seeded book (SQLite, Azurite-free
local blob store): every figure is compared with the one worked out by hand in tests/console_book.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.models.features import FEATURE_NAMES, feature_hash
from app.models.registry import ModelCard, ModelRegistry, PromotionPolicy
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from tests.console_book import REALISED, UNREALISED_AT_FILL_MARKS, seed_fills, seed_snapshots
from tests.servers import asgi_server

pytestmark = pytest.mark.integration

TOKEN = "console-book-token"
LIMITS = {
    "RISK_ACCOUNT_EQUITY": 100_000.0,
    "RISK_MAX_SYMBOL_WEIGHT": 0.02,
    "RISK_MAX_GROSS_EXPOSURE": 1.0,
    "RISK_MAX_OPEN_POSITIONS": 4,
    "RISK_DAILY_LOSS_LIMIT": 500.0,
    "RISK_MAX_DRAWDOWN": 0.1,
    "KILL_SWITCH_MAX_OPEN_ORDERS": 5,
}


@pytest.fixture
def book(make_settings: Callable[..., Settings]) -> Iterator[tuple[Container, httpx.Client]]:
    services = Container(make_settings(API_BEARER_TOKEN=TOKEN, **LIMITS))
    services.db.upgrade()
    seed_fills(services.db)
    with (
        asgi_server(create_app(container=services)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client,
    ):
        yield services, client


def test_limit_use_measures_the_book_as_the_governor_does(book: tuple[Container, httpx.Client]) -> None:
    _, client = book
    body = client.get("/risk/limit-use").json()
    equity = Decimal(100_000) + REALISED + UNREALISED_AT_FILL_MARKS  # 100,099
    assert Decimal(body["equity"]) == equity
    assert Decimal(body["unrealised"]) == UNREALISED_AT_FILL_MARKS
    assert Decimal(body["realised_today"]) == 0  # every fill is on a past day
    symbols = {s["symbol"]: s for s in body["symbols"]}
    assert Decimal(symbols["QQA"]["qty"]) == 6 and Decimal(symbols["QQA"]["mark"]) == 110
    assert Decimal(symbols["QQB"]["exposure"]) == 1000
    use = {item["name"]: item for item in body["items"]}
    heaviest = Decimal(1000) / equity
    assert use["max_symbol_weight"]["symbol"] == "QQB"
    assert use["max_symbol_weight"]["use"] == pytest.approx(float(heaviest / Decimal("0.02")), abs=1e-6)
    assert use["max_gross_exposure"]["measure"] == pytest.approx(float(Decimal(1660) / equity), abs=1e-6)
    assert use["max_open_positions"]["measure"] == 2 and use["max_open_positions"]["use"] == 0.5
    assert use["daily_loss"]["measure"] == 0 and use["daily_loss"]["use"] == 0  # a gain is no loss
    assert use["max_drawdown"]["use"] == 0  # equity is its own high-water mark
    assert use["max_open_orders"]["measure"] == 0 and use["max_open_orders"]["limit"] == 5
    status = client.get("/status").json()
    assert status["limits"]["items"] == body["items"]


def test_realised_pnl_by_day_and_strategy(book: tuple[Container, httpx.Client]) -> None:
    _, client = book
    body = client.get("/portfolio/pnl").json()
    assert Decimal(body["total"]) == REALISED
    days = {b["key"]: (Decimal(b["realised"]), b["fills"]) for b in body["by_day"]}
    assert days == {"2026-11-30": (Decimal(0), 2), "2026-12-01": (Decimal(39), 1)}
    strategies = {b["key"]: (Decimal(b["realised"]), Decimal(b["fees"])) for b in body["by_strategy"]}
    assert strategies == {"breakout": (Decimal(0), Decimal(0)), "momentum": (Decimal(39), Decimal(1))}
    portfolio = client.get("/portfolio").json()
    assert Decimal(portfolio["realised_pnl"]) == REALISED  # the book and the replay agree
    assert client.get("/portfolio/pnl", params={"days": 0}).status_code == 422


def test_history_and_portfolio_after_snapshots(book: tuple[Container, httpx.Client]) -> None:
    services, client = book
    cash = Decimal(client.get("/portfolio").json()["cash"])
    initial = services.settings.SIM_INITIAL_CASH
    assert cash == initial + REALISED - Decimal(1600)  # bought 1,600 at cost, realised 39
    stored = seed_snapshots(services.db, cash)
    history = client.get("/portfolio/history").json()["items"]
    assert [Decimal(i["equity"]) for i in history] == [initial + 99 - 110, initial - 121, initial + 99]
    assert Decimal(history[0]["high_water_mark"]) == initial + 99
    assert Decimal(history[0]["drawdown"]) == stored[-1].drawdown
    portfolio = client.get("/portfolio").json()
    assert Decimal(portfolio["equity"]) == initial - 11
    assert Decimal(portfolio["today_pnl"]["total"]) == Decimal(110)  # 2026-12-03 against 12-02


def test_governor_round_trip_shows_in_status(book: tuple[Container, httpx.Client]) -> None:
    _, client = book
    reduced = client.post("/kill-switch", json={"state": "REDUCING", "reason": "wind down", "actor": "desk"})
    assert reduced.status_code == 200 and reduced.json()["state"] == "REDUCING"
    trading = client.get("/status").json()["trading"]
    assert (trading["state"], trading["reason"], trading["actor"]) == ("REDUCING", "wind down", "desk")
    blank = client.post("/kill-switch", json={"state": "ACTIVE", "reason": ""})
    assert blank.status_code == 422 and blank.headers["content-type"].startswith("application/problem+json")
    reset = client.post("/kill-switch", json={"reset": True, "reason": "reviewed", "actor": "desk"})
    assert reset.json()["state"] == "ACTIVE"
    assert client.get("/status").json()["trading"]["state"] == "ACTIVE"
    history = client.get("/risk/kill-switch/history").json()["items"]
    assert [(i["reason"], i["detail"]) for i in history[:2]] == [
        ("reset", "reviewed"),
        ("reducing", "wind down"),
    ]


def _card(version: str, brier: float, prior_brier: float, created: str) -> ModelCard:
    return ModelCard(
        strategy="momentum",
        version=version,
        created_at=created,
        feature_names=list(FEATURE_NAMES),
        feature_hash=feature_hash(FEATURE_NAMES),
        training_window={"start": "2024-01-02", "end": "2026-11-27"},
        data_fingerprint="f" * 64,
        samples=1200,
        metrics={
            "model": {"brier": brier, "log_loss": 0.66, "ece": 0.02, "samples": 1200, "base_rate": 0.52},
            "prior": {
                "brier": prior_brier,
                "log_loss": 0.69,
                "ece": 0.04,
                "samples": 1200,
                "base_rate": 0.52,
            },
            "brier_improvement": (prior_brier - brier) / prior_brier,
        },
        library_versions={"python": "3"},
        code_version=None,
        artifact_sha256="0" * 64,
    )


def test_models_overview_serves_calibration_and_champion_vs_challenger(
    book: tuple[Container, httpx.Client],
) -> None:
    services, client = book
    assert client.get("/models/overview").json() == {
        "calibration": None,
        "calibration_error": None,
        "strategies": [],
        "registry_error": None,
    }
    registry = ModelRegistry(services.blob, services.settings.BLOB_CONTAINER_MODELS)
    for card in (
        _card("v1", 0.240, 0.250, "2026-11-27T22:30:00+00:00"),
        _card("v2", 0.249, 0.250, "2026-11-28T22:30:00+00:00"),
    ):
        services.blob.put_text(
            registry.container, f"models/momentum/{card.version}/card.json", json.dumps(asdict(card))
        )
    when = datetime(2026, 11, 27, 22, 31, tzinfo=UTC)
    first = registry.decide(
        _card("v1", 0.240, 0.250, "2026-11-27T22:30:00+00:00"), PromotionPolicy(), now=when
    )
    second = registry.decide(
        _card("v2", 0.249, 0.250, "2026-11-28T22:30:00+00:00"), PromotionPolicy(), now=when.replace(day=28)
    )
    assert first.promoted and not second.promoted
    folder = services.settings.ARTIFACTS_DIR / "daily" / "2026-12-01"
    folder.mkdir(parents=True)
    curve = {"forecast": [0.55, 0.65], "observed": [0.2, 0.3], "count": [10.0, 10.0]}
    scores = {"brier": 0.3, "log_loss": 0.8, "ece": 0.35, "samples": 20, "base_rate": 0.25, "mean_prob": 0.6}
    calibration = {
        "scored": 20,
        "pending": 2,
        "drift_max": 0.1,
        "min_samples": 10,
        "overall": {**scores, "reliability": curve},
        "regimes": {"trend_up": {**scores, "reliability": curve, "drift": True, "judged": True}},
        "drifting": ["trend_up"],
        "decisions": [],
        "errors": {},
    }
    (folder / "reports.json").write_text(json.dumps({"session": "2026-12-01", "calibration": calibration}))
    body = client.get("/models/overview").json()
    assert body["calibration"]["session"] == "2026-12-01"
    assert body["calibration"]["drifting"] == ["trend_up"]
    assert body["calibration"]["regimes"]["trend_up"]["reliability"] == curve
    [momentum] = body["strategies"]
    assert momentum["champion"]["version"] == "v1" and momentum["challenger"]["version"] == "v2"
    assert momentum["champion"]["model"]["brier"] == 0.24 and momentum["champion"]["prior"]["brier"] == 0.25
    assert [d["version"] for d in momentum["decisions"]] == ["v2", "v1"]
    assert momentum["decisions"][0]["brier_improvement"] == pytest.approx(0.004)
    assert "below the required" in momentum["decisions"][0]["reason"]
    (folder / "reports.json").write_text("{not json")
    broken = client.get("/models/overview").json()
    assert broken["calibration"] is None and "not readable JSON" in broken["calibration_error"]


def test_a_new_fill_moves_limit_use_and_realised_pnl_at_once(book: tuple[Container, httpx.Client]) -> None:
    """Both routes keep their replay of the fills; a new fill (count and newest id change) is seen."""
    services, client = book
    assert Decimal(client.get("/portfolio/pnl").json()["total"]) == REALISED
    assert {s["symbol"] for s in client.get("/risk/limit-use").json()["symbols"]} == {"QQA", "QQB"}
    when = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    OrdersRepository(services.db).apply(
        [
            SourcedOrderEvent(
                event=OrderEvent(
                    client_order_id="mo-3",
                    symbol="QQA",
                    side=OrderSide.SELL,
                    qty=Decimal(6),
                    status=OrderStatus.FILLED,
                    strategy="momentum",
                    ts=when,
                    fills=[FillPayload(venue_fill_id="mo-3-f1", qty=Decimal(6), price=Decimal(120), ts=when)],
                ),
                event_id="evt-mo-3",
            )
        ]
    )
    pnl = client.get("/portfolio/pnl").json()
    assert Decimal(pnl["total"]) == REALISED + 6 * 20
    assert {b["key"]: Decimal(b["realised"]) for b in pnl["by_day"]}["2026-12-02"] == 120
    use = client.get("/risk/limit-use").json()
    assert {s["symbol"] for s in use["symbols"]} == {"QQB"}
    assert Decimal(use["equity"]) == Decimal(100_000) + REALISED + 120  # QQB at its cost: no open gain
