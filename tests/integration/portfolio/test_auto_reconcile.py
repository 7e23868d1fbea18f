"""Automatic reconciliation on SQLite and PostgreSQL: outside positions adopted, unexplained
differences latch the governor REDUCING until an operator acknowledges them (CLI or API), a
refresh whose reconciliation cannot read the broker routes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.app import create_app
from app.bootstrap import Container
from app.cli.main import app as cli
from app.config import Settings
from app.domain.orders import OrderEvent, OrderSide
from app.errors import InputError
from app.risk.guard import GuardRequest
from app.risk.kill_switch import KILL_SWITCH_REDUCING
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.orders import SourcedOrderEvent
from app.storage.repositories.portfolio import PortfolioRepository
from app.workers.daily_jobs import DailyJobs, RefreshNotRouted
from app.workers.reconciliation import ReconcileUnavailable, acknowledge, auto_reconcile
from tests.servers import free_port

pytestmark = pytest.mark.integration

SESSION = date(2026, 11, 3)
AT = datetime(2026, 11, 3, 14, 35, tzinfo=UTC)


@pytest.fixture
def services(database_url: str, make_settings: Callable[..., Settings]) -> Iterator[Container]:
    container = Container(
        make_settings(
            DATABASE_URL=database_url, API_BEARER_TOKEN="tok", SIM_SLIPPAGE_BPS=0, SIM_COMMISSION_BPS=0
        )
    )
    container.db.upgrade()
    yield container
    container.close()


def _trade(
    services: Container, cid: str, symbol: str, side: OrderSide, qty: str, price: str = "100"
) -> OrderEvent:
    intent = OrderEvent(client_order_id=cid, symbol=symbol, side=side, qty=Decimal(qty), ts=AT)
    return services.broker.submit(intent, market_price=Decimal(price))


def _book(services: Container, *reports: OrderEvent) -> None:
    """The order consumer writing the broker's reports (and so the book)."""
    services.orders.apply([SourcedOrderEvent(r, f"evt-{r.client_order_id}") for r in reports])


def _held(services: Container) -> dict[str, Decimal]:
    return {p.symbol: p.quantity for p in PortfolioRepository(services.db).positions("simulated")}


def test_a_clean_book_changes_nothing(services: Container) -> None:
    _book(services, _trade(services, "o-1", "AAPL", OrderSide.BUY, "10"))
    done = auto_reconcile(services, trigger="intraday_refresh_0935", at=AT)
    assert done.clean and done.latched is None
    assert services.kill_switch.status().state == "ACTIVE"


def test_a_position_opened_outside_is_adopted_and_trading_goes_on(services: Container) -> None:
    _book(services, _trade(services, "o-1", "AAPL", OrderSide.BUY, "10"))
    _trade(services, "outside-1", "NVDA", OrderSide.BUY, "3", "150")  # the book never hears of it
    done = auto_reconcile(services, trigger="startup", at=AT)
    assert [(d.kind, d.symbol) for d in done.adopted] == [("missing_in_book", "NVDA")]
    assert done.latched is None and services.kill_switch.status().state == "ACTIVE"
    assert _held(services) == {"AAPL": Decimal(10), "NVDA": Decimal(3)}
    (entry,) = PortfolioRepository(services.db).adjustments("simulated")
    assert (entry["symbol"], entry["who"], entry["source"]) == ("NVDA", "ai-trader", "reconcile")
    assert "automatic reconciliation (startup)" in entry["why"]
    assert auto_reconcile(services, trigger="again", at=AT).clean


def test_an_unexplained_difference_latches_reducing_until_acknowledged(
    services: Container, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _book(services, _trade(services, "o-1", "AAPL", OrderSide.BUY, "10"))
    _trade(services, "o-2", "AAPL", OrderSide.SELL, "4")  # a fill the book never saw
    done = auto_reconcile(services, trigger="intraday_refresh_1130", at=AT)
    assert done.latched == "reconcile:quantity_mismatch AAPL"
    status = services.kill_switch.status()
    assert (status.state, status.latched_reason) == ("REDUCING", "reconcile:quantity_mismatch AAPL")
    # REDUCING: a buy is refused, a sell that shrinks the long passes
    guard = services.guard
    buy = guard.check(
        GuardRequest(symbol="AAPL", notional=100.0, client_order_id="g-1", side="buy", price=100.0)
    )
    assert not buy.allowed and buy.reason == KILL_SWITCH_REDUCING
    sell = guard.check(
        GuardRequest(symbol="AAPL", notional=100.0, client_order_id="g-2", side="sell", price=100.0)
    )
    assert sell.allowed
    GuardRepository(services.db).release("g-2")  # the run published nothing after all
    # the latch is kept: switching off is refused, a second reconcile does not re-log a change
    with pytest.raises(InputError, match="portfolio acknowledge"):
        services.kill_switch.set(False, reason="try", actor="ops")
    assert auto_reconcile(services, trigger="intraday_refresh_1330", at=AT).latched is not None
    assert [e.reason for e in services.kill_switch.history()].count("reducing") == 1

    runner = CliRunner()
    for key, value in {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    refused = runner.invoke(cli, ["portfolio", "acknowledge", "--who", "ops:ana", "--why", ""])
    assert refused.exit_code == 2, refused.output
    result = runner.invoke(
        cli, ["portfolio", "acknowledge", "--who", "ops:ana", "--why", "sold by hand", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cleared"] == "reconcile:quantity_mismatch AAPL" and data["who"] == "ops:ana"
    assert [a["symbol"] for a in data["applied"]] == ["AAPL"]
    status = services.kill_switch.status()
    assert (status.state, status.latched_reason, status.actor) == ("ACTIVE", None, "ops:ana")
    (event, *_) = services.kill_switch.history()
    assert (event.reason, event.actor) == ("acknowledge", "ops:ana") and "sold by hand" in (
        event.detail or ""
    )
    assert _held(services) == {"AAPL": Decimal(6)}
    assert auto_reconcile(services, trigger="after", at=AT).clean
    again = runner.invoke(cli, ["portfolio", "acknowledge", "--who", "ops", "--why", "x"])
    assert again.exit_code == 2 and "nothing to acknowledge" in again.output


def test_an_operators_halt_stays_halted_but_is_latched(services: Container) -> None:
    _book(services, _trade(services, "o-1", "AAPL", OrderSide.BUY, "10"))
    services.kill_switch.set(True, reason="broker incident", actor="ops")
    _trade(services, "o-2", "AAPL", OrderSide.BUY, "1")
    assert (
        auto_reconcile(services, trigger="startup_check", at=AT).latched == "reconcile:quantity_mismatch AAPL"
    )
    assert services.kill_switch.status().state == "HALTED"
    done = acknowledge(services, who="ops", why="checked", at=AT)
    assert done.cleared.startswith("reconcile:")
    assert services.kill_switch.status().state == "HALTED"  # the operator's halt is theirs to lift


def test_a_difference_with_an_order_in_flight_is_explained(services: Container) -> None:
    intent = OrderEvent(client_order_id="o-9", symbol="MSFT", side=OrderSide.BUY, qty=Decimal(2), ts=AT)
    _book(services, intent)  # published: open in trading.orders
    _trade(services, "o-9", "MSFT", OrderSide.BUY, "2", "400")  # filled, the update not consumed yet
    done = auto_reconcile(services, trigger="intraday_refresh_0935", at=AT)
    assert [d.symbol for d in done.explained] == ["MSFT"] and not done.adopted and done.latched is None
    assert _held(services) == {}  # not adopted: the fill is on its way to the book


def test_the_api_acknowledges_with_the_token_and_problem_json(services: Container) -> None:
    _book(services, _trade(services, "o-1", "AAPL", OrderSide.BUY, "10"))
    with TestClient(create_app(container=services), headers={"Authorization": "Bearer tok"}) as client:
        path = "/portfolio/reconcile/acknowledge"
        body = {"who": "ops", "why": "looked"}
        assert client.post(path, json=body, headers={"Authorization": ""}).status_code == 401
        bad = client.post(path, json={"who": "ops"})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        nothing = client.post(path, json=body)
        assert nothing.status_code == 422 and "nothing to acknowledge" in nothing.json()["detail"]
        _trade(services, "o-2", "AAPL", OrderSide.SELL, "10")
        auto_reconcile(services, trigger="startup", at=AT)
        done = client.post(path, json=body)
        assert done.status_code == 200, done.text
        assert done.json()["cleared"] == "reconcile:missing_at_broker AAPL"
    assert services.kill_switch.status().state == "ACTIVE" and _held(services) == {}


def test_a_refresh_that_cannot_reach_the_broker_routes_nothing(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        DATABASE_URL=database_url,
        BROKER="alpaca",
        ALPACA_API_KEY="key",
        ALPACA_API_SECRET="secret",
        ALPACA_TRADING_BASE_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens
        WATCHLIST="AAPL",
    )
    with Container(settings) as services:
        services.db.upgrade()
        jobs = DailyJobs(services, clock=lambda: AT)
        with pytest.raises(ReconcileUnavailable, match="could not read the book or the broker"):
            auto_reconcile(services, trigger="t", at=AT)
        with pytest.raises(RefreshNotRouted, match="reconciliation failed closed"):
            jobs.run("intraday_refresh_0935", SESSION)
        record = json.loads(jobs.output_path(SESSION, "intraday_refresh_0935").read_text())
        assert record["routed"] is False and "Alpaca unreachable" in record["reason"]
        assert "router" not in services.built()  # not a single run
        with pytest.raises(Exception, match="reconcile"):
            jobs.run("startup_check", SESSION)
        assert jobs.startup_reconcile()["status"] == "error"


# --- a restart longer than the reservation's TTL --------------------------------------------

TTL_S = 300.0


def _admitted(services: Container, cid: str, symbol: str, side: str, at: datetime) -> None:
    decision = services.guard.check(
        GuardRequest(symbol=symbol, notional=1000.0, client_order_id=cid, side=side, price=100.0), now=at
    )
    assert decision.allowed, decision


def _fills(services: Container, cid: str) -> list[Decimal]:
    return [f.qty for f in services.orders.get_order(cid).fills]


@pytest.mark.parametrize("first", ["reconciliation", "consumer"])
def test_a_fill_seen_by_reconciliation_and_the_late_consumer_counts_once(
    services: Container, first: str
) -> None:
    """Crash after the broker filled an admitted order and before the order consumer wrote it;
    the restart outlasts the reservation (``RISK_RESERVATION_TTL_S``), then the order's event
    arrives: the book counts the fill once, whichever path sees it first, and equals the broker."""
    _admitted(services, "g-buy", "NVDA", "buy", AT)
    report = _trade(services, "g-buy", "NVDA", OrderSide.BUY, "10")  # filled at the broker; then the crash
    late = AT + timedelta(seconds=TTL_S + 3600)  # the reservation expired long ago
    _admitted(services, "g-other", "MSFT", "buy", late)  # a governed check after the restart
    GuardRepository(services.db).release("g-other")
    if first == "consumer":
        _book(services, report)
    done = auto_reconcile(services, trigger="startup", at=late)
    assert done.adopted == () and done.unexplained == () and done.latched is None
    assert done.recovered == (("g-buy",) if first == "reconciliation" else ())
    assert PortfolioRepository(services.db).adjustments("simulated") == []  # nothing adopted as outside
    if first == "reconciliation":
        _book(services, report)  # the order's own event, redelivered late by the consumer
    assert _held(services) == {"NVDA": Decimal(10)}
    assert _fills(services, "g-buy") == [Decimal(10)]
    assert auto_reconcile(services, trigger="again", at=late).clean
    # the exit is the book's holding, and the broker (which holds 10) accepts it
    (held,) = PortfolioRepository(services.db).positions("simulated")
    _admitted(services, "g-sell", "NVDA", "sell", late)
    _book(services, _trade(services, "g-sell", "NVDA", OrderSide.SELL, str(held.quantity)))
    assert _held(services) == {} and services.broker.list_positions() == []
    assert auto_reconcile(services, trigger="after_exit", at=late).clean
    assert services.kill_switch.status().state == "ACTIVE"


def test_an_admitted_order_the_broker_never_placed_is_not_recovered(services: Container) -> None:
    _admitted(services, "g-lost", "NVDA", "buy", AT)  # crash before the order reached the broker
    _trade(services, "outside-2", "NVDA", OrderSide.BUY, "2")  # while a position opened outside
    done = auto_reconcile(services, trigger="startup", at=AT + timedelta(seconds=TTL_S + 60))
    assert done.recovered == ()
    assert [(d.kind, d.symbol) for d in done.adopted] == [("missing_in_book", "NVDA")]
    assert _held(services) == {"NVDA": Decimal(2)}
