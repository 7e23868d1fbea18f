"""Marking to market: equity, exposures, high-water mark, drawdown and P&L since the open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.orders import OrderSide
from app.errors import InputError
from app.portfolio import BookFill, PositionBook, daily_pnl, mark_to_market

T0 = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
D = Decimal


def _book() -> PositionBook:
    book = PositionBook.of(cash={"simulated": D("10000")})
    for n, (symbol, side, qty, price) in enumerate(
        [("AAPL", "buy", "10", "200"), ("TSLA", "sell", "5", "300"), ("MSFT", "buy", "2", "400")]
    ):
        book.apply_fill(
            BookFill(
                account="simulated",
                symbol=symbol,
                side=OrderSide(side),
                quantity=D(qty),
                price=D(price),
                fee=D("1"),
                ts=T0,
                fill_id=str(n),
            )
        )
    book.apply_fill(
        BookFill(
            account="simulated",
            symbol="MSFT",
            side=OrderSide.SELL,
            quantity=D("2"),
            price=D("410"),
            ts=T0,
            fill_id="close-msft",
        )
    )
    return book


def test_snapshot_marks_longs_and_shorts() -> None:
    book = _book()
    prices = {"AAPL": D("210"), "TSLA": D("280")}
    snap = mark_to_market(
        book.all_positions("simulated"),
        account="simulated",
        cash=book.cash_of("simulated"),
        prices=prices,
        at=T0,
    )
    # cash: 10000 - 2000 + 1500 - 800 + 820 - 3 fees = 9517
    assert snap.cash == D("9517")
    assert (snap.long_exposure, snap.short_exposure) == (D("2100"), D("-1400"))
    assert (snap.gross_exposure, snap.net_exposure) == (D("3500"), D("700"))
    assert snap.equity == D("10217")
    assert snap.unrealised_pnl == D("100") + D("100")  # AAPL +10/share, TSLA short +20/share
    assert snap.realised_pnl == D("17")  # MSFT +20 less three 1.00 fees
    assert snap.equity - D("10000") == snap.realised_pnl + snap.unrealised_pnl
    assert snap.open_positions == 2 and snap.high_water_mark == snap.equity and snap.drawdown == 0


def test_high_water_mark_carries_over_and_drawdown_is_measured_from_it() -> None:
    book = _book()
    positions, cash = book.all_positions("simulated"), book.cash_of("simulated")
    high = mark_to_market(
        positions, account="simulated", cash=cash, prices={"AAPL": D("250"), "TSLA": D("250")}, at=T0
    )
    low = mark_to_market(
        positions,
        account="simulated",
        cash=cash,
        prices={"AAPL": D("150"), "TSLA": D("350")},
        at=T0 + timedelta(hours=1),
        previous=high,
    )
    assert high.equity == D("10767")
    assert low.high_water_mark == high.equity and low.equity == D("9267")
    assert low.drawdown_amount == D("1500")
    assert low.drawdown == (D("1500") / D("10767")).quantize(D("1e-10"))
    pnl = daily_pnl(low, high)
    assert pnl.total == D("-1500") == pnl.realised + pnl.unrealised
    assert pnl.fraction < 0


def test_a_position_without_a_price_is_never_guessed() -> None:
    book = _book()
    with pytest.raises(InputError, match="no usable price to mark TSLA"):
        mark_to_market(
            book.all_positions("simulated"),
            account="simulated",
            cash=D(0),
            prices={"AAPL": D("1"), "TSLA": D("0")},
            at=T0,
        )


def test_snapshots_of_other_accounts_do_not_mix() -> None:
    book = _book()
    with pytest.raises(InputError, match="not in account"):
        mark_to_market(book.all_positions("simulated"), account="alpaca-paper", cash=D(0), prices={}, at=T0)
    a = mark_to_market([], account="simulated", cash=D(1), prices={}, at=T0)
    b = mark_to_market([], account="alpaca-paper", cash=D(1), prices={}, at=T0)
    with pytest.raises(InputError, match="different accounts"):
        daily_pnl(a, b)
    with pytest.raises(InputError, match="newer"):
        daily_pnl(a, mark_to_market([], account="simulated", cash=D(1), prices={}, at=T0 + timedelta(1)))
