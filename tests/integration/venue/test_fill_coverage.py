"""No share of an Alpaca order is counted twice, whichever way its executions arrive.

One MSFT order (the recorded ``trade_updates`` order, 20 shares) fills in three executions:
5 @ 412.35 (cumulative 5), 7 @ 412.40 (12) and 8 @ 412.50 (20), 8248.55 in all, an average of
412.4275. The stream frames are parsed by the adapter (:func:`parse_trade_update`), recovery
reads the order and its FILL activities from a loopback Alpaca (:meth:`AlpacaBroker.find_order`,
as reconciliation does), and both are written by the orders repository into a real database
(SQLite and PostgreSQL). After every sequence the stored fills cover the order's 20 shares
exactly once and the position book holds what the broker holds.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

import pytest
from sqlalchemy import select

from app.domain.orders import FillPayload
from app.execution.alpaca.broker import AlpacaBroker
from app.execution.alpaca.config import AlpacaTradingConfig
from app.execution.alpaca.parsing import fill_id, parse_trade_update
from app.storage.db import Database
from app.storage.models import Fill
from app.storage.repositories.orders import ApplyResult, OrdersRepository, SourcedOrderEvent
from app.storage.repositories.portfolio import PortfolioRepository
from tests.integration.venue.alpaca_venue import KEY, SECRET, VenueServer, venue_server
from tests.unit.execution.alpaca_replay import load

ORDER_ID = "c2a0f5a4-93d1-4f0e-8b57-6e1d2b9a7c31"
COID = "rt-msft-breakout-20261125-buy"
ACCOUNT = "alpaca-paper"
# (execution id, qty, price, cumulative qty, order average after it, time)
EXECUTIONS = (
    ("5f1c9f7e-2b64-4d0b-9a59-0c3e7b6d2f18", "5", "412.35", "5", "412.35", "2026-11-25T15:02:12.903811Z"),
    ("7a3e4c2d-1b0f-4e9a-8c7d-6b5a4f3e2d1c", "7", "412.40", "12", "412.3792", "2026-11-25T15:03:20.511204Z"),
    ("b83d27c4-7e11-45a9-8f0b-6c2d9a4e1f53", "8", "412.50", "20", "412.4275", "2026-11-25T15:04:40.118264Z"),
)
TOTAL_QTY = Decimal(20)
TOTAL_COST = Decimal("8248.55")
AVERAGE = Decimal("412.4275")
TOLERANCE = Decimal("0.000001")  # inferred prices are kept to 10 decimal places


def _frame(index: int) -> dict[str, Any]:
    """The ``trade_updates`` frame of execution ``index`` (0-based)."""
    execution, qty, price, cumulative, average, at = EXECUTIONS[index]
    last = index == len(EXECUTIONS) - 1
    name = "trade_update_fill_msft.json" if last else "trade_update_partial_fill_msft.json"
    frame = cast(dict[str, Any], copy.deepcopy(load(name)))
    data = frame["data"]
    data.update(execution_id=execution, qty=qty, price=price, timestamp=at, position_qty=cumulative)
    data["order"].update(
        filled_qty=cumulative,
        filled_avg_price=average,
        updated_at=at,
        status="filled" if last else "partially_filled",
        filled_at=at if last else None,
    )
    return frame


def _activity(index: int) -> dict[str, Any]:
    """The FILL activity row of execution ``index``, as ``GET /v2/account/activities/FILL`` lists it."""
    execution, qty, price, cumulative, _, at = EXECUTIONS[index]
    last = index == len(EXECUTIONS) - 1
    return {
        "id": f"{at[:4]}{index:02d}::{execution}",
        "activity_type": "FILL",
        "transaction_time": at,
        "type": "fill" if last else "partial_fill",
        "price": price,
        "qty": qty,
        "side": "buy",
        "symbol": "MSFT",
        "leaves_qty": str(TOTAL_QTY - Decimal(cumulative)),
        "order_id": ORDER_ID,
        "cum_qty": cumulative,
        "order_status": "filled" if last else "partially_filled",
    }


@pytest.fixture
def venue() -> Iterator[VenueServer]:
    with venue_server() as server:
        order = copy.deepcopy(load("trade_update_fill_msft.json")["data"]["order"])
        order.update(filled_qty=str(TOTAL_QTY), filled_avg_price=str(AVERAGE), updated_at=EXECUTIONS[-1][5])
        with server.lock:
            server.orders = {ORDER_ID: order}
        yield server


@pytest.fixture
def broker(venue: VenueServer) -> Iterator[AlpacaBroker]:
    config = AlpacaTradingConfig(api_key=KEY, api_secret=SECRET, base_url=venue.rest_url)
    broker = AlpacaBroker(config)
    yield broker
    broker.close()


def _stream(repository: OrdersRepository, index: int) -> ApplyResult:
    update = parse_trade_update(_frame(index))
    assert update is not None
    return repository.apply([SourcedOrderEvent(update.order)])


def _recover(
    repository: OrdersRepository, venue: VenueServer, broker: AlpacaBroker, listed: tuple[int, ...]
) -> tuple[list[FillPayload], ApplyResult]:
    """Reconciliation's recovery while the FILL feed lists only the executions ``listed``."""
    with venue.lock:
        venue.activities = [_activity(i) for i in listed]
    report = broker.find_order(COID)
    assert report is not None
    return report.fills, repository.apply([SourcedOrderEvent(report, f"reconcile:{COID}")])


def _stored(database: Database) -> list[tuple[str, Decimal, Decimal, Decimal | None, bool]]:
    """The stored fills, lowest cumulative quantity first (sorted here: SQLite keeps Money as text)."""
    query = select(Fill.venue_fill_id, Fill.qty, Fill.price, Fill.cum_qty, Fill.inferred)
    with database.engine.connect() as connection:
        rows = [(str(a), Decimal(b), Decimal(c), d, bool(e)) for a, b, c, d, e in connection.execute(query)]
    return sorted(rows, key=lambda row: row[3] if row[3] is not None else Decimal(0))


def _assert_as_the_broker(database: Database, repository: OrdersRepository) -> None:
    """Stored fills cover (0, 20] once; order totals and the position equal the broker's."""
    rows = _stored(database)
    reached = Decimal(0)
    for _, qty, _, cumulative, _ in rows:
        assert cumulative is not None and cumulative - qty == reached, rows  # contiguous, no overlap
        reached = cumulative
    assert reached == TOTAL_QTY
    cost = sum((qty * price for _, qty, price, _, _ in rows), Decimal(0))
    assert abs(cost - TOTAL_COST) < TOLERANCE
    order = repository.get_order(COID).order
    assert order.filled_qty == TOTAL_QTY
    assert order.avg_fill_price is not None and abs(order.avg_fill_price - AVERAGE) < TOLERANCE
    [position] = PortfolioRepository(database).positions(ACCOUNT)
    assert (position.symbol, position.quantity) == ("MSFT", TOTAL_QTY)
    assert abs(position.cost_basis - TOTAL_COST) < TOLERANCE


def test_recovery_that_infers_several_executions_before_the_stream_delivers_them(
    database: Database, venue: VenueServer, broker: AlpacaBroker
) -> None:
    repository = OrdersRepository(database, account=ACCOUNT)
    fills, recovered = _recover(repository, venue, broker, listed=(0,))
    # the feed lists cumulative 5: one inferred execution stands for (5, 20]
    assert [(f.venue_fill_id, f.qty, f.inferred) for f in fills] == [
        (fill_id(ORDER_ID, Decimal(5)), Decimal(5), False),
        (fill_id(ORDER_ID, TOTAL_QTY), Decimal(15), True),
    ]
    assert (recovered.fills_inserted, recovered.fills_duplicate) == (2, 0)
    first = _stream(repository, 0)  # the same execution under the same name
    middle = _stream(repository, 1)  # (5, 12]: a new name, but the inferred fill counts its shares
    last = _stream(repository, 2)  # (12, 20]: the name the inferred fill took
    assert (first.fills_inserted, first.fills_duplicate, first.fills_covered) == (0, 1, 0)
    assert (middle.fills_inserted, middle.fills_duplicate, middle.fills_covered) == (0, 1, 1)
    assert (last.fills_inserted, last.fills_duplicate) == (0, 1)
    assert (middle.positions_updated, last.positions_updated) == (0, 0)
    _assert_as_the_broker(database, repository)
    assert [r[4] for r in _stored(database)] == [False, True]


def test_recovery_after_the_stream_infers_only_what_is_not_stored(
    database: Database, venue: VenueServer, broker: AlpacaBroker
) -> None:
    repository = OrdersRepository(database, account=ACCOUNT)
    _stream(repository, 0)
    _stream(repository, 1)
    fills, recovered = _recover(repository, venue, broker, listed=(0,))
    # the adapter, reading the feed alone, infers 15 shares; 7 of them are stored already
    assert fills[-1].inferred and fills[-1].qty == Decimal(15)
    assert (recovered.fills_inserted, recovered.positions_updated) == (1, 1)
    inferred = _stored(database)[-1]
    assert inferred == (fill_id(ORDER_ID, TOTAL_QTY), Decimal(8), Decimal("412.5"), TOTAL_QTY, True)
    late = _stream(repository, 2)
    assert (late.fills_inserted, late.fills_duplicate, late.positions_updated) == (0, 1, 0)
    _assert_as_the_broker(database, repository)


def test_executions_arriving_out_of_order_all_count_and_a_redelivery_counts_once(
    database: Database, venue: VenueServer, broker: AlpacaBroker
) -> None:
    repository = OrdersRepository(database, account=ACCOUNT)
    _stream(repository, 0)
    ahead = _stream(repository, 2)  # cumulative 20 before cumulative 12
    behind = _stream(repository, 1)
    assert (ahead.fills_inserted, behind.fills_inserted) == (1, 1)
    again = _stream(repository, 1)
    assert (again.fills_inserted, again.fills_duplicate, again.fills_covered, again.positions_updated) == (
        0,
        1,
        0,
        0,
    )
    fills, recovered = _recover(repository, venue, broker, listed=(0, 1, 2))
    assert not any(f.inferred for f in fills)
    assert (recovered.fills_inserted, recovered.fills_duplicate, recovered.positions_updated) == (0, 3, 0)
    _assert_as_the_broker(database, repository)
    assert not any(r[4] for r in _stored(database))


def test_an_execution_missing_from_the_middle_of_the_feed_is_inferred_under_its_own_name(
    database: Database, venue: VenueServer, broker: AlpacaBroker
) -> None:
    repository = OrdersRepository(database, account=ACCOUNT)
    fills, recovered = _recover(repository, venue, broker, listed=(0, 2))
    rest = fills[-1]
    assert (rest.venue_fill_id, rest.qty, rest.price, rest.inferred) == (
        fill_id(ORDER_ID, Decimal(12)),
        Decimal(7),
        Decimal("412.4"),
        True,
    )
    assert recovered.fills_inserted == 3
    late = _stream(repository, 1)
    assert (late.fills_inserted, late.fills_duplicate, late.positions_updated) == (0, 1, 0)
    _assert_as_the_broker(database, repository)


def test_an_inferred_fill_fills_every_gap_around_a_stored_execution(
    database: Database, venue: VenueServer, broker: AlpacaBroker
) -> None:
    repository = OrdersRepository(database, account=ACCOUNT)
    _stream(repository, 1)  # only (5, 12] is known
    fills, recovered = _recover(repository, venue, broker, listed=())
    assert [(f.qty, f.inferred) for f in fills] == [(TOTAL_QTY, True)]  # the feed lists nothing yet
    assert recovered.fills_inserted == 2  # (0, 5] and (12, 20], at one price
    rows = _stored(database)
    assert [(r[1], r[3], r[4]) for r in rows] == [
        (Decimal(5), Decimal(5), True),
        (Decimal(7), Decimal(12), False),
        (Decimal(8), TOTAL_QTY, True),
    ]
    assert rows[0][2] == rows[2][2]
    for index in (0, 2, 1):
        late = _stream(repository, index)
        assert (late.fills_inserted, late.positions_updated) == (0, 0)
    listed, repeated = _recover(repository, venue, broker, listed=(0, 1, 2))
    assert not any(f.inferred for f in listed)
    assert (repeated.fills_inserted, repeated.fills_duplicate) == (0, 3)
    _assert_as_the_broker(database, repository)


def test_recovery_and_stream_in_one_batch_prefer_the_reported_executions(
    database: Database, venue: VenueServer, broker: AlpacaBroker
) -> None:
    repository = OrdersRepository(database, account=ACCOUNT)
    with venue.lock:
        venue.activities = [_activity(0)]
    report = broker.find_order(COID)
    assert report is not None
    updates = [parse_trade_update(_frame(i)) for i in (2, 1)]
    batch = [SourcedOrderEvent(report, f"reconcile:{COID}")]
    batch += [SourcedOrderEvent(u.order) for u in updates if u is not None]
    result = repository.apply(batch)
    # the reported executions cover (0, 20]; the inferred fill shares its name with the one
    # for cumulative 20 and gives way to it
    assert (result.fills_inserted, result.fills_duplicate) == (3, 0)
    assert not any(r[4] for r in _stored(database))
    _assert_as_the_broker(database, repository)
