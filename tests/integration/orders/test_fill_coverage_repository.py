"""The orders repository places fills that carry ``cum_qty`` on the order's shares.

The Alpaca sequences (stream, activity feed and recovery in every order) are in
``tests/integration/venue/test_fill_coverage.py``; these are the repository's own edges.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.storage.repositories.portfolio import PortfolioRepository

D = Decimal
AT = datetime(2026, 11, 25, 15, 2, tzinfo=UTC)


def _report(*fills: FillPayload) -> SourcedOrderEvent:
    event = OrderEvent(
        client_order_id="rt-1",
        symbol="MSFT",
        side=OrderSide.BUY,
        qty=D(50),
        status=OrderStatus.PARTIALLY_FILLED,
        broker_order_id="o-1",
        ts=AT,
        fills=list(fills),
    )
    return SourcedOrderEvent(event)


def _fill(name: str, qty: str, price: str, cumulative: str | None = None, minute: int = 0) -> FillPayload:
    return FillPayload(
        venue_fill_id=name,
        qty=D(qty),
        price=D(price),
        ts=AT + timedelta(minutes=minute),
        cum_qty=None if cumulative is None else D(cumulative),
    )


def _inferred(name: str, qty: str, price: str, cumulative: str, average: str) -> FillPayload:
    return FillPayload(
        venue_fill_id=name,
        qty=D(qty),
        price=D(price),
        ts=AT + timedelta(minutes=5),
        cum_qty=D(cumulative),
        inferred=True,
        order_avg_price=D(average),
    )


def _book(database: Database) -> tuple[Decimal, Decimal]:
    [position] = PortfolioRepository(database).positions("alpaca-paper")
    return position.quantity, position.cost_basis


def test_fills_without_cum_qty_are_told_apart_by_id_only(database: Database) -> None:
    repository = OrdersRepository(database, account="alpaca-paper")
    first = repository.apply([_report(_fill("f-1", "10", "100"))])
    second = repository.apply([_report(_fill("f-2", "10", "100"), _fill("f-1", "10", "100"))])
    assert (first.fills_inserted, second.fills_inserted, second.fills_duplicate) == (1, 1, 1)
    assert _book(database) == (D(20), D(2000))


def test_a_partly_covered_execution_adds_only_its_uncovered_shares(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    repository = OrdersRepository(database, account="alpaca-paper")
    repository.apply([_report(_fill("o-1:30", "30", "100", "30"))])
    with caplog.at_level(logging.WARNING, logger="app.storage.repositories.orders"):
        result = repository.apply([_report(_fill("o-1:40", "20", "101", "40", minute=1))])
    assert (result.fills_inserted, result.positions_updated) == (1, 1)
    assert "overlaps stored fills" in caplog.text
    detail = repository.get_order("rt-1")
    assert [(f.venue_fill_id, f.qty) for f in detail.fills] == [("o-1:30", D(30)), ("o-1:40", D(10))]
    assert _book(database) == (D(40), D(3000) + D(1010))


def test_an_inferred_fill_worth_less_than_nothing_is_priced_at_the_average(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    repository = OrdersRepository(database, account="alpaca-paper")
    repository.apply([_report(_fill("o-1:10", "10", "500", "10"))])
    with caplog.at_level(logging.WARNING, logger="app.storage.repositories.orders"):
        # (0, 50] at 100 on average is worth 5000; the stored 10 shares alone are worth 5000
        result = repository.apply([_report(_inferred("o-1:50", "40", "100", "50", "100"))])
    assert result.fills_inserted == 1
    assert "priced at the average" in caplog.text
    assert _book(database) == (D(50), D(5000) + D(4000))


def test_an_inferred_fill_redelivered_after_more_executions_adds_nothing(database: Database) -> None:
    repository = OrdersRepository(database, account="alpaca-paper")
    inferred = _inferred("o-1:50", "50", "101.6", "50", "101.6")
    assert repository.apply([_report(inferred)]).fills_inserted == 1
    later = repository.apply([_report(_fill("o-1:70", "20", "110", "70", minute=9))])
    again = repository.apply([_report(inferred)])
    assert later.fills_inserted == 1
    assert (again.fills_inserted, again.fills_duplicate, again.fills_covered) == (0, 1, 0)
    assert _book(database) == (D(70), D(5080) + D(2200))


def test_an_execution_stored_in_part_carries_its_fee_in_proportion(database: Database) -> None:
    repository = OrdersRepository(database, account="alpaca-paper")
    repository.apply([_report(_fill("o-1:30", "30", "100", "30"))])
    partly = _fill("o-1:40", "20", "101", "40", minute=1).model_copy(update={"fee": D("2.50")})
    repository.apply([_report(partly)])
    detail = repository.get_order("rt-1")
    assert [(f.venue_fill_id, f.qty, f.fee) for f in detail.fills] == [
        ("o-1:30", D(30), D(0)),
        ("o-1:40", D(10), D("1.25")),  # half its shares were stored already: half its fee
    ]
    [position] = PortfolioRepository(database).positions("alpaca-paper")
    assert position.fees == D("1.25")
