"""Reconciliation against the (paper) broker, snapshots, the reports job, the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.app import create_app
from app.bootstrap import Container
from app.cli.main import app as cli
from app.config import Settings
from app.domain.orders import OrderEvent, OrderSide, OrderStatus
from app.errors import InputError
from app.portfolio import MissingInBook, QuantityMismatch
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.storage.repositories.portfolio import PortfolioRepository
from app.workers.daily_jobs import DailyJobs
from app.workers.portfolio import book_cash, reconcile_book, take_snapshot

SESSION = date(2026, 11, 3)
MARKED_AT = datetime(2026, 11, 3, 21, 5, tzinfo=UTC)


@pytest.fixture
def services(database_url: str, make_settings: Callable[..., Settings]) -> Iterator[Container]:
    container = Container(make_settings(DATABASE_URL=database_url, API_BEARER_TOKEN="tok"))
    container.db.upgrade()
    yield container
    container.close()


def _trade(services: Container, cid: str, symbol: str, side: OrderSide, qty: str, price: str) -> OrderEvent:
    """An order filled by the configured (simulated paper) broker."""
    intent = OrderEvent(
        client_order_id=cid, symbol=symbol, side=side, qty=Decimal(qty), strategy="momentum", ts=MARKED_AT
    )
    return services.broker.submit(intent, market_price=Decimal(price))


def _record(services: Container, *reports: OrderEvent) -> None:
    services.orders.apply([SourcedOrderEvent(r, f"evt-{r.client_order_id}") for r in reports])


def test_book_fed_by_the_brokers_fills_equals_the_broker(services: Container) -> None:
    reports = [
        _trade(services, "o-1", "AAPL", OrderSide.BUY, "10", "100"),
        _trade(services, "o-2", "MSFT", OrderSide.BUY, "4", "400"),
        _trade(services, "o-3", "AAPL", OrderSide.SELL, "3", "110"),
    ]
    _record(services, *reports)
    outcome = reconcile_book(services, apply=False, who="test", why="check", at=MARKED_AT)
    assert outcome.report.differences == ()
    assert outcome.unresolved == 0
    positions = PortfolioRepository(services.db).positions("simulated", include_flat=True)
    assert {p.symbol: p.quantity for p in positions} == {"AAPL": Decimal(7), "MSFT": Decimal(4)}
    # the book's cash is the paper account's cash
    assert book_cash(services, "simulated", positions) == services.broker.get_account().cash


def test_differences_are_listed_then_applied_with_who_and_why(services: Container) -> None:
    first = _trade(services, "o-1", "AAPL", OrderSide.BUY, "10", "100")
    _record(services, first)
    _trade(services, "o-2", "AAPL", OrderSide.BUY, "5", "100")  # the book never hears of it
    _trade(services, "o-3", "NVDA", OrderSide.BUY, "2", "150")  # opened "outside" the book

    outcome = reconcile_book(services, apply=False, who="ops:ana", why="morning check", at=MARKED_AT)
    kinds = {type(d) for d in outcome.report.differences}
    assert kinds == {QuantityMismatch, MissingInBook}
    assert outcome.unresolved == 2 and not outcome.applied
    assert PortfolioRepository(services.db).adjustments("simulated") == []  # nothing written

    applied = reconcile_book(services, apply=True, who="ops:ana", why="morning check", at=MARKED_AT)
    assert applied.applied and applied.unresolved == 0
    held = {p.symbol: p.quantity for p in PortfolioRepository(services.db).positions("simulated")}
    assert held == {p.symbol: p.quantity for p in services.broker.list_positions()}
    entries = PortfolioRepository(services.db).adjustments("simulated")
    assert {(e["symbol"], e["source"], e["who"]) for e in entries} == {
        ("AAPL", "reconcile", "ops:ana"),
        ("NVDA", "reconcile", "ops:ana"),
    }
    assert all("morning check" in e["why"] for e in entries)
    again = reconcile_book(services, apply=False, who="ops:ana", why="after", at=MARKED_AT)
    assert again.report.differences == ()

    # entries built before the book moved are refused as a whole
    _trade(services, "o-4", "AAPL", OrderSide.BUY, "1", "100")
    stale = reconcile_book(services, apply=False, who="ops", why="stale", at=MARKED_AT).report.entries
    _record(services, _trade(services, "o-5", "AAPL", OrderSide.BUY, "1", "100"))
    with pytest.raises(InputError, match="reconcile again"):
        PortfolioRepository(services.db).apply_adjustments(stale)


def test_snapshots_carry_the_high_water_mark_and_the_report_includes_the_book(services: Container) -> None:
    _record(services, _trade(services, "o-1", "SPY", OrderSide.BUY, "10", "100"))
    first = take_snapshot(services, MARKED_AT, prices_on=SESSION)
    positions = PortfolioRepository(services.db).positions("simulated", include_flat=True)
    (spy,) = positions
    assert first.cash == services.settings.SIM_INITIAL_CASH - spy.cost_basis + spy.realised_pnl
    assert first.equity == first.cash + first.net_exposure
    assert first.unrealised_pnl == first.net_exposure - spy.cost_basis
    assert first.high_water_mark == first.equity and first.drawdown == 0

    report = DailyJobs(services).reports(SESSION)
    book = report["book"]
    assert book["status"] == "ok"
    assert [p["symbol"] for p in book["positions"]] == ["SPY"]
    assert Decimal(book["snapshot"]["high_water_mark"]) >= first.equity
    assert book["day_pnl"] is not None
    markdown = DailyJobs(services).output_path(SESSION, "reports").with_suffix(".md").read_text()
    assert "- book (simulated): equity" in markdown and "SPY: 10" in markdown
    history = PortfolioRepository(services.db).history("simulated", limit=10)
    assert len(history) == 2 and history[0].at >= history[1].at


def test_api_serves_the_book_with_problem_json_errors(services: Container) -> None:
    _record(services, _trade(services, "o-1", "AAPL", OrderSide.BUY, "10", "100"))
    take_snapshot(services, MARKED_AT, prices_on=SESSION)
    with TestClient(create_app(container=services), headers={"Authorization": "Bearer tok"}) as client:
        positions = client.get("/positions").json()
        assert positions["account"] == "simulated"
        assert [(p["symbol"], p["qty"], p["side"]) for p in positions["positions"]] == [
            ("AAPL", "10", "long")
        ]
        portfolio = client.get("/portfolio").json()
        assert portfolio["latest_snapshot"]["open_positions"] == 1
        assert Decimal(portfolio["equity"]) == Decimal(portfolio["latest_snapshot"]["equity"])
        assert portfolio["marked_at"].startswith("2026-11-03T21:05")
        history = client.get("/portfolio/history", params={"limit": 5}).json()
        assert len(history["items"]) == 1
        for bad in ({"limit": 0}, {"limit": 100_000}, {"since": "yesterday"}):
            response = client.get("/portfolio/history", params=bad)
            assert response.status_code == 422, bad
            assert response.headers["content-type"].startswith("application/problem+json")
        assert client.post("/portfolio/reconcile", json={}, headers={"Authorization": ""}).status_code == 401
        assert client.post("/portfolio/reconcile", json={"apply": "yes"}).status_code == 422
        _trade(services, "o-2", "AAPL", OrderSide.BUY, "1", "100")
        listed = client.post("/portfolio/reconcile", json={"who": "ops", "why": "drift"}).json()
        assert (listed["unresolved"], listed["differences"][0]["kind"]) == (1, "quantity_mismatch")
        fixed = client.post("/portfolio/reconcile", json={"apply": True, "who": "ops", "why": "drift"}).json()
        assert fixed["applied"] and fixed["unresolved"] == 0
        assert fixed["entries"][0]["source"] == "reconcile" and fixed["entries"][0]["who"] == "ops"
        assert client.get("/positions").json()["positions"][0]["qty"] == "11"


def test_cli_reconcile_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'book.db'}"
    for key, value in {
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    from app.storage.db import Database
    from tests.integration.orders.scenario import fill, order_event

    db = Database(url)
    db.upgrade()
    event = order_event("cli-1", OrderStatus.FILLED, fills=[fill("f1", "5", "20")])
    OrdersRepository(db).apply([SourcedOrderEvent(event, "e-1")])
    db.dispose()
    runner = CliRunner()
    # the paper account (shared through the database) holds nothing: the book's AAPL is missing at the broker
    listed = runner.invoke(cli, ["portfolio", "reconcile", "--json"])
    assert listed.exit_code == 3, listed.output
    data = json.loads(listed.stdout)
    assert [d["kind"] for d in data["differences"]] == ["missing_at_broker"]
    applied = runner.invoke(cli, ["portfolio", "reconcile", "--apply", "--who", "ops", "--why", "test"])
    assert applied.exit_code == 0, applied.output
    assert "applied 1 adjusting entries" in applied.stdout
    clean = runner.invoke(cli, ["portfolio", "reconcile"])
    assert clean.exit_code == 0 and "0 difference(s)" in clean.stdout
    shown = runner.invoke(cli, ["portfolio", "show", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["positions"] == []
    history = runner.invoke(cli, ["portfolio", "history", "--limit", "0"])
    assert history.exit_code == 2
