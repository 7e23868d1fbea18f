"""Realised P&L: replaying today's fills from the opening positions equals replaying all history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.risk.pnl import FillRow, OpenPosition, open_positions, realised_pnl, realised_pnl_by_symbol

T0 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


@st.composite
def fill_histories(draw: st.DrawFn) -> list[FillRow]:
    n = draw(st.integers(min_value=0, max_value=40))
    fills: list[FillRow] = []
    for i in range(n):
        fills.append(
            (
                draw(st.sampled_from(["AAPL", "MSFT", "TSLA"])),
                draw(st.sampled_from(["buy", "sell"])),
                Decimal(draw(st.integers(min_value=1, max_value=50))),
                Decimal(draw(st.integers(min_value=1_000, max_value=30_000))) / 100,
                Decimal(draw(st.integers(min_value=0, max_value=300))) / 100,
                T0 + timedelta(minutes=30 * i),
            )
        )
    return fills


@settings(max_examples=300, deadline=None)
@given(fills=fill_histories(), cut=st.integers(min_value=0, max_value=40))
def test_opening_positions_plus_todays_fills_equal_the_whole_history(fills: list[FillRow], cut: int) -> None:
    since = T0 + timedelta(minutes=30 * cut)
    before = [f for f in fills if f[5] < since]
    today = [f for f in fills if f[5] >= since]
    opening = open_positions(before)

    assert realised_pnl(today, since, opening) == realised_pnl(fills, since)
    assert realised_pnl_by_symbol(today, since, opening) == realised_pnl_by_symbol(fills, since)
    assert open_positions(today, opening) == open_positions(fills)
    assert all(position.qty != 0 for position in opening.values())


@settings(max_examples=200, deadline=None)
@given(fills=fill_histories(), cut=st.integers(min_value=0, max_value=40))
def test_per_symbol_pnl_adds_up_to_the_total(fills: list[FillRow], cut: int) -> None:
    since = T0 + timedelta(minutes=30 * cut)
    by_symbol = realised_pnl_by_symbol(fills, since)
    assert set(by_symbol) == {f[0] for f in fills if f[5] >= since}
    assert abs(sum(by_symbol.values(), Decimal(0)) - realised_pnl(fills, since)) < Decimal("1e-12")


def test_opening_position_carries_the_average_cost() -> None:
    history = [
        ("AAPL", "buy", Decimal(10), Decimal(100), Decimal(0), T0),
        ("AAPL", "buy", Decimal(10), Decimal(110), Decimal(0), T0 + timedelta(minutes=1)),
        ("MSFT", "sell", Decimal(4), Decimal(50), Decimal(0), T0 + timedelta(minutes=2)),
        ("TSLA", "buy", Decimal(1), Decimal(10), Decimal(0), T0 + timedelta(minutes=3)),
        ("TSLA", "sell", Decimal(1), Decimal(12), Decimal(0), T0 + timedelta(minutes=4)),
    ]
    assert open_positions(history) == {
        "AAPL": OpenPosition(Decimal(20), Decimal(105)),
        "MSFT": OpenPosition(Decimal(-4), Decimal(50)),
    }
    since = T0 + timedelta(days=1)
    today = [("AAPL", "sell", Decimal(5), Decimal(95), Decimal("0.5"), since)]
    assert realised_pnl_by_symbol(today, since, open_positions(history)) == {"AAPL": Decimal("-50.5")}
