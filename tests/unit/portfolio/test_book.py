"""The position book: adding, reducing, closing and flipping, fees, idempotency, clamp_exit.

The property tests replay random fill sequences against plain-Python references that use
exact fractions: an average-cost book (realised P&L) and a FIFO lot queue (realised plus
unrealised, which any cost method must agree on).
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.orders import FillPayload, OrderEvent, OrderSide
from app.errors import InputError
from app.portfolio import BookFill, Position, PositionBook, clamp_exit, mark_to_market

T0 = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)
D = Decimal


def fill(
    side: str, qty: str | Decimal, price: str | Decimal, *, fee: str = "0", n: int = 0, symbol: str = "AAPL"
) -> BookFill:
    return BookFill(
        account="simulated",
        symbol=symbol,
        side=OrderSide(side),
        quantity=D(qty),
        price=D(price),
        fee=D(fee),
        ts=T0 + timedelta(minutes=n),
        fill_id=f"f{n}-{symbol}",
    )


def run(*fills: BookFill) -> tuple[PositionBook, Position]:
    book = PositionBook()
    for f in fills:
        book.apply_fill(f)
    return book, book.position("simulated", fills[0].symbol)


def test_adding_to_a_long_averages_the_cost() -> None:
    _, pos = run(fill("buy", "10", "100", n=1), fill("buy", "30", "104", n=2))
    assert pos.quantity == 40 and pos.average_cost == D("103")
    assert pos.realised_pnl == 0 and pos.last_fill_at == T0 + timedelta(minutes=2)


def test_reducing_a_long_realises_at_the_unchanged_average_cost() -> None:
    _, pos = run(fill("buy", "10", "100", n=1), fill("buy", "10", "110", n=2), fill("sell", "5", "120", n=3))
    assert pos.quantity == 15 and pos.average_cost == D("105")
    assert pos.realised_pnl == D("75")  # 5 x (120 - 105)


def test_closing_a_long_leaves_a_flat_position_with_its_realised_pnl() -> None:
    book, pos = run(fill("buy", "10", "100", fee="1", n=1), fill("sell", "10", "90", fee="1", n=2))
    assert pos.is_flat and pos.cost_basis == 0 and pos.average_cost == 0
    assert pos.realised_pnl == D("-102") and pos.fees == D("2")  # -100 trading loss, 2 in fees
    assert book.open_positions("simulated") == [] and book.all_positions("simulated") == [pos]
    assert book.cash_of("simulated") == D("-102")


def test_a_short_gains_when_the_price_falls() -> None:
    _, pos = run(fill("sell", "10", "50", n=1), fill("sell", "10", "40", n=2), fill("buy", "5", "30", n=3))
    assert pos.quantity == -15 and pos.side == "short" and pos.average_cost == D("45")
    assert pos.cost_basis == D("-675")
    assert pos.realised_pnl == D("75")  # 5 x (45 - 30)
    assert pos.unrealised_pnl(D("30")) == D("225")


def test_a_flip_realises_the_closed_part_and_opens_the_rest_at_the_fill_price() -> None:
    book, pos = run(fill("buy", "10", "100", n=1), fill("sell", "25", "110", fee="2.5", n=2))
    assert pos.quantity == -15 and pos.average_cost == D("110")
    assert pos.realised_pnl == D("97.5")  # 10 x 10, less the whole fill's fee
    back = book.apply_fill(fill("buy", "20", "100", n=3))
    assert back is not None
    assert back.position.quantity == 5 and back.position.average_cost == D("100")
    assert back.realised == D("150")  # covered 15 short at 100 against 110


def test_fees_reduce_cash_and_realised_pnl_on_opening_fills_too() -> None:
    book, pos = run(fill("buy", "2", "100", fee="0.25", n=1))
    assert pos.realised_pnl == D("-0.25") and pos.fees == D("0.25")
    assert book.cash_of("simulated") == D("-200.25")


def test_a_repeated_fill_id_changes_nothing() -> None:
    book = PositionBook()
    first = book.apply_fill(fill("buy", "3", "10", n=1))
    assert first is not None
    assert book.apply_fill(fill("buy", "3", "10", n=1)) is None
    assert book.quantity("simulated", "AAPL") == 3 and book.cash_of("simulated") == D("-30")


def test_fills_from_a_broker_report_keep_the_venue_fill_ids() -> None:
    report = OrderEvent(
        client_order_id="c1",
        symbol="msft",
        side=OrderSide.SELL,
        qty=D("2"),
        ts=T0,
        fills=[FillPayload(venue_fill_id="v1", qty=D("2"), price=D("400"), fee=D("0.1"), ts=T0)],
    )
    book_fill = BookFill.from_report("alpaca-paper", report, report.fills[0])
    assert (book_fill.symbol, book_fill.signed_quantity, book_fill.fill_id) == ("MSFT", D("-2"), "v1")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"quantity": D("0")}, "positive"),
        ({"price": D("-1")}, "positive"),
        ({"fee": D("-0.01")}, "fee"),
        ({"price": D("NaN")}, "finite"),
        ({"ts": datetime(2026, 1, 1)}, "timezone"),
        ({"fill_id": ""}, "fill_id"),
    ],
)
def test_bad_fills_are_refused_with_the_reason(changes: dict[str, object], match: str) -> None:
    values: dict[str, object] = {
        "account": "a",
        "symbol": "AAPL",
        "side": OrderSide.BUY,
        "quantity": D("1"),
        "price": D("1"),
        "ts": T0,
        "fill_id": "x",
    }
    with pytest.raises(InputError, match=match):
        BookFill(**(values | changes))  # type: ignore[arg-type]


def test_a_fill_for_another_symbol_is_refused() -> None:
    with pytest.raises(InputError, match="not simulated/MSFT"):
        Position(account="simulated", symbol="MSFT").apply(fill("buy", "1", "1"))


@pytest.mark.parametrize(
    ("held", "desired", "expected"),
    [
        ("10", "-25", "-10"),  # a sell of a long stops at zero
        ("10", "-4", "-4"),
        ("10", "5", "5"),  # adding is not an exit
        ("-7", "20", "7"),  # a buy-back of a short stops at zero
        ("-7", "-3", "-3"),
        ("0", "-5", "-5"),  # from flat it is an opening order, not an exit
    ],
)
def test_clamp_exit_never_crosses_zero(held: str, desired: str, expected: str) -> None:
    assert clamp_exit(D(held), D(desired)) == D(expected)


# --- properties ---------------------------------------------------------------------------

quantities = st.decimals(min_value=D("0.001"), max_value=D("500"), places=3)
prices = st.decimals(min_value=D("0.5"), max_value=D("900"), places=4)
fees = st.decimals(min_value=D("0"), max_value=D("3"), places=2)
fill_specs = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), quantities, prices, fees, st.sampled_from(["AAPL", "MSFT"])),
    min_size=1,
    max_size=40,
)


def _avg_cost_reference(specs: list[tuple[str, Decimal, Decimal, Decimal, str]]) -> dict[str, Fraction]:
    """Realised P&L net of fees per symbol, average-cost method, exact fractions."""
    qty: dict[str, Fraction] = {}
    avg: dict[str, Fraction] = {}
    realised: dict[str, Fraction] = {}
    for side, q, p, fee, symbol in specs:
        d = Fraction(q) if side == "buy" else -Fraction(q)
        held, cost, price = qty.get(symbol, Fraction(0)), avg.get(symbol, Fraction(0)), Fraction(p)
        r = -Fraction(fee)
        if held == 0 or (held > 0) == (d > 0):
            avg[symbol] = (abs(held) * cost + abs(d) * price) / (abs(held) + abs(d))
        else:
            closed = min(abs(held), abs(d))
            r += closed * (price - cost) * (1 if held > 0 else -1)
            if abs(d) > abs(held):
                avg[symbol] = price
        qty[symbol] = held + d
        if qty[symbol] == 0:
            avg[symbol] = Fraction(0)
        realised[symbol] = realised.get(symbol, Fraction(0)) + r
    return realised


def _fifo_total_reference(
    specs: list[tuple[str, Decimal, Decimal, Decimal, str]], marks: dict[str, Decimal]
) -> Fraction:
    """Realised plus unrealised P&L net of fees over all symbols, FIFO lots, exact fractions."""
    lots: dict[str, deque[list[Fraction]]] = {}
    total = Fraction(0)
    for side, q, p, fee, symbol in specs:
        total -= Fraction(fee)
        remaining = Fraction(q) if side == "buy" else -Fraction(q)
        queue = lots.setdefault(symbol, deque())
        while remaining != 0 and queue and (queue[0][0] > 0) != (remaining > 0):
            lot_qty, lot_price = queue[0]
            take = min(abs(lot_qty), abs(remaining))
            sign = 1 if lot_qty > 0 else -1
            total += take * (Fraction(p) - lot_price) * sign
            queue[0][0] = lot_qty - sign * take
            remaining += sign * take
            if queue[0][0] == 0:
                queue.popleft()
        if remaining != 0:
            queue.append([remaining, Fraction(p)])
    for symbol, queue in lots.items():
        for lot_qty, lot_price in queue:
            total += lot_qty * (Fraction(marks[symbol]) - lot_price)
    return total


@settings(max_examples=150, deadline=None)
@given(specs=fill_specs, mark=prices)
def test_book_matches_the_sum_of_fills_and_the_reference_pnl(
    specs: list[tuple[str, Decimal, Decimal, Decimal, str]], mark: Decimal
) -> None:
    book = PositionBook()
    for n, (side, q, p, fee, symbol) in enumerate(specs):
        book.apply_fill(fill(side, q, p, fee=str(fee), n=n, symbol=symbol))
    marks = {"AAPL": mark, "MSFT": mark * 2}
    reference = _avg_cost_reference(specs)
    tolerance = Fraction(1, 10**6)
    for symbol in {s[4] for s in specs}:
        position = book.position("simulated", symbol)
        signed = sum((q if side == "buy" else -q for side, q, _, _, sym in specs if sym == symbol), D(0))
        assert position.quantity == signed
        assert abs(Fraction(position.realised_pnl) - reference[symbol]) < tolerance
        assert position.average_cost >= 0
    snapshot = mark_to_market(
        book.all_positions("simulated"),
        account="simulated",
        cash=book.cash_of("simulated"),
        prices=marks,
        at=T0,
    )
    # cash started at zero, so equity is exactly what the fills earned
    assert snapshot.equity == snapshot.realised_pnl + snapshot.unrealised_pnl
    fifo = _fifo_total_reference(specs, marks)
    assert abs(Fraction(snapshot.realised_pnl + snapshot.unrealised_pnl) - fifo) < tolerance


@settings(max_examples=200, deadline=None)
@given(
    held=st.decimals(min_value=D("-1000"), max_value=D("1000"), places=6),
    desired=st.decimals(min_value=D("-5000"), max_value=D("5000"), places=6),
)
def test_a_clamped_exit_never_exceeds_the_holding(held: Decimal, desired: Decimal) -> None:
    clamped = clamp_exit(held, desired)
    after = held + clamped
    assert abs(clamped) <= abs(desired)
    if held != 0 and (clamped > 0) != (held > 0) and clamped != 0:  # an exit
        assert abs(clamped) <= abs(held)
        assert after == 0 or (after > 0) == (held > 0)
    else:
        assert clamped == desired
