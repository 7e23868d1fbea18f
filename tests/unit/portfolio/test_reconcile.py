"""Reconciliation: typed differences, adjusting entries, and entries that make book == broker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.accounts import BrokerPosition, OpenOrder
from app.domain.orders import OrderSide, OrderStatus
from app.errors import InputError
from app.portfolio import (
    AverageCostMismatch,
    MissingAtBroker,
    MissingInBook,
    Position,
    PositionBook,
    QuantityMismatch,
    ReconcileTolerance,
    apply_adjustments,
    reconcile,
)

AT = datetime(2026, 11, 27, 11, 58, tzinfo=UTC)
D = Decimal
ACCOUNT = "alpaca-paper"


def _pos(symbol: str, qty: str, avg: str) -> Position:
    return Position(account=ACCOUNT, symbol=symbol).adjusted(D(qty), D(avg))


def _broker(symbol: str, qty: str, avg: str) -> BrokerPosition:
    return BrokerPosition(symbol=symbol, quantity=D(qty), average_entry_price=D(avg))


def _open(symbol: str, coid: str) -> OpenOrder:
    return OpenOrder(
        client_order_id=coid,
        broker_order_id="b-" + coid,
        symbol=symbol,
        side=OrderSide.BUY,
        type="limit",
        status=OrderStatus.PARTIALLY_FILLED,
        qty=D("10"),
        notional=None,
        filled_qty=D("4"),
        submitted_at=AT,
        limit_price=D("100"),
    )


def test_each_kind_of_difference_is_reported_with_its_entry() -> None:
    book = [
        _pos("AAPL", "10", "200"),  # matches
        _pos("MSFT", "5", "400"),  # broker has 8 (a partial fill the book missed)
        _pos("TSLA", "-3", "250"),  # broker has none
        _pos("NVDA", "4", "100"),  # broker's average cost differs
        Position(account=ACCOUNT, symbol="AMD", realised_pnl=D("12")),  # flat: not a position
    ]
    broker = [
        _broker("AAPL", "10", "200.05"),  # within the 5 bp tolerance
        _broker("MSFT", "8", "401"),
        _broker("NVDA", "4", "101"),
        _broker("XLK", "-24", "82.69"),  # opened outside ai-trader
    ]
    report = reconcile(
        ACCOUNT, book, broker, [_open("MSFT", "o-1")], who="alice", why="start-up check", at=AT
    )
    kinds = {d.symbol: type(d) for d in report.differences}
    assert kinds == {
        "MSFT": QuantityMismatch,
        "NVDA": AverageCostMismatch,
        "TSLA": MissingAtBroker,
        "XLK": MissingInBook,
    }
    assert [d.action for d in report.differences] == ["set_quantity", "set_average_cost", "flatten", "adopt"]
    msft = next(d for d in report.differences if d.symbol == "MSFT")
    assert [o.client_order_id for o in msft.open_orders] == ["o-1"] and "o-1" in msft.describe()
    by_symbol = {e.symbol: e for e in report.entries}
    assert by_symbol["XLK"].quantity_after == D("-24") and by_symbol["XLK"].average_cost_after == D("82.69")
    assert by_symbol["TSLA"].quantity_after == 0 and by_symbol["TSLA"].average_cost_after == 0
    assert all(e.source == "reconcile" and e.who == "alice" for e in report.entries)
    assert by_symbol["MSFT"].why.startswith("quantity_mismatch: MSFT book 5") and "start-up check" in (
        by_symbol["MSFT"].why
    )
    assert not report.is_clean and report.open_orders[0].remaining_qty == D("6")


def test_applying_the_entries_makes_the_book_equal_the_broker() -> None:
    book = PositionBook.of([_pos("TSLA", "-3", "250"), _pos("MSFT", "5", "400")])
    book.positions[(ACCOUNT, "MSFT")] = Position(
        account=ACCOUNT, symbol="MSFT", quantity=D(5), cost_basis=D(2000), realised_pnl=D("33")
    )
    broker = [_broker("MSFT", "8", "401"), _broker("XLK", "-24", "82.69")]
    report = reconcile(ACCOUNT, book.all_positions(ACCOUNT), broker, who="ops", why="adopt", at=AT)
    apply_adjustments(book, report.entries)
    assert book.quantity(ACCOUNT, "XLK") == D("-24") and book.position(ACCOUNT, "XLK").average_cost == D(
        "82.69"
    )
    assert book.position(ACCOUNT, "TSLA").is_flat
    assert book.position(ACCOUNT, "MSFT").realised_pnl == D("33")  # history is not rewritten
    assert reconcile(ACCOUNT, book.all_positions(ACCOUNT), broker, who="ops", why="again", at=AT).is_clean


def test_stale_entries_are_refused() -> None:
    book = PositionBook.of([_pos("MSFT", "5", "400")])
    report = reconcile(ACCOUNT, book.all_positions(ACCOUNT), [], who="ops", why="x", at=AT)
    book.set_position(_pos("MSFT", "6", "400"))
    with pytest.raises(InputError, match="reconcile again"):
        apply_adjustments(book, report.entries)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"who": " "}, "who and why"),
        ({"at": datetime(2026, 1, 1)}, "timezone"),
    ],
)
def test_bad_reconcile_calls_are_refused(kwargs: dict[str, object], match: str) -> None:
    values: dict[str, object] = {"who": "ops", "why": "x", "at": AT} | kwargs
    with pytest.raises(InputError, match=match):
        reconcile(ACCOUNT, [], [], **values)  # type: ignore[arg-type]


def test_duplicate_symbols_and_foreign_positions_are_refused() -> None:
    with pytest.raises(InputError, match="twice"):
        reconcile(ACCOUNT, [], [_broker("A", "1", "1"), _broker("A", "2", "1")], who="o", why="x", at=AT)
    foreign = Position(account="simulated", symbol="A", quantity=D(1), cost_basis=D(1))
    with pytest.raises(InputError, match="not in account"):
        reconcile(ACCOUNT, [foreign], [], who="o", why="x", at=AT)
    with pytest.raises(InputError, match="tolerance"):
        ReconcileTolerance(quantity=D(-1))


symbols = st.sampled_from(["AAPL", "MSFT", "TSLA", "NVDA", "XLK", "SPY"])
holdings = st.dictionaries(
    symbols,
    st.tuples(
        st.decimals(min_value=D("-500"), max_value=D("500"), places=4),
        st.decimals(min_value=D("0.01"), max_value=D("1000"), places=4),
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(book_side=holdings, broker_side=holdings)
def test_adjusting_entries_always_empty_the_diff(
    book_side: dict[str, tuple[Decimal, Decimal]], broker_side: dict[str, tuple[Decimal, Decimal]]
) -> None:
    book = PositionBook.of(
        Position(account=ACCOUNT, symbol=s).adjusted(q, a if q else D(0)) for s, (q, a) in book_side.items()
    )
    broker = [
        BrokerPosition(symbol=s, quantity=q, average_entry_price=a) for s, (q, a) in broker_side.items()
    ]
    report = reconcile(ACCOUNT, book.all_positions(ACCOUNT), broker, who="prop", why="test", at=AT)
    apply_adjustments(book, report.entries)
    after = reconcile(ACCOUNT, book.all_positions(ACCOUNT), broker, who="prop", why="test", at=AT)
    assert after.differences == ()
    held = {s: q for s, (q, _) in broker_side.items() if q != 0}
    assert {p.symbol: p.quantity for p in book.open_positions(ACCOUNT)} == held
