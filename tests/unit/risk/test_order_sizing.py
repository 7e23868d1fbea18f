"""Order sizing: the notional the router sends and the quantity a notional buys."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InputError
from app.risk.sizing import CENT, QTY_STEP, order_notional, position_value, quantity_for_notional, to_cents


def test_position_value_ignores_the_side() -> None:
    assert position_value(1.0, 0.25, 100_000.0) == 25_000.0
    assert position_value(-1.0, 0.25, 100_000.0) == 25_000.0
    assert position_value(0.0, 0.25, 100_000.0) == 0.0


def test_to_cents_rounds_down_and_zeroes_non_finite_amounts() -> None:
    assert to_cents(1234.5678) == Decimal("1234.56")
    assert to_cents(0.009) == Decimal("0.00")
    assert to_cents(math.nan) == 0
    assert to_cents(math.inf) == 0


def test_opening_from_flat_is_the_new_positions_value() -> None:
    got = order_notional(equity=100_000.0, new_position=1.0, new_frac=0.123456)
    assert got == Decimal("12345.60")


def test_reversal_closes_the_held_position_at_its_marked_value_and_opens_the_new_one() -> None:
    # long 10 % of 50,000 opened at 100, now 110: closing 5,500 plus opening 20 % short = 10,000
    got = order_notional(
        equity=50_000.0,
        new_position=-1.0,
        new_frac=0.2,
        old_position=1.0,
        old_frac=0.1,
        entry_price=100.0,
        price=110.0,
    )
    assert got == Decimal("15500.00")


def test_closing_to_flat_is_the_held_value_marked_to_the_price() -> None:
    got = order_notional(
        equity=10_000.0,
        new_position=0.0,
        new_frac=0.3,
        old_position=-1.0,
        old_frac=0.5,
        entry_price=40.0,
        price=30.0,
    )
    assert got == Decimal("3750.00")


def test_a_missing_price_or_fraction_means_no_order() -> None:
    assert order_notional(equity=1e5, new_position=1.0, new_frac=math.nan) == 0
    held = {"old_position": 1.0, "old_frac": 0.1, "entry_price": 100.0}
    assert order_notional(equity=1e5, new_position=0.0, new_frac=0.1, **held) == 0  # no price


money = st.floats(min_value=1.0, max_value=1e8, allow_nan=False, allow_infinity=False)
frac = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
side = st.sampled_from([-1.0, 0.0, 1.0])
price = st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(equity=money, new=side, new_frac=frac, old=side, old_frac=frac, entry=price, now=price)
def test_notional_is_whole_cents_never_above_the_exact_value(
    equity: float, new: float, new_frac: float, old: float, old_frac: float, entry: float, now: float
) -> None:
    got = order_notional(
        equity=equity,
        new_position=new,
        new_frac=new_frac,
        old_position=old,
        old_frac=old_frac,
        entry_price=entry,
        price=now,
    )
    exact = abs(new) * new_frac * equity + (abs(old) * old_frac * equity * now / entry if old else 0.0)
    assert got >= 0
    assert got == got.quantize(CENT)
    assert float(got) <= exact * (1 + 1e-12)
    assert exact - float(got) < 0.01 + exact * 1e-12


def test_quantity_rounds_down_to_the_step() -> None:
    assert quantity_for_notional(Decimal("1000.00"), Decimal("3")) == Decimal("333.333333")
    assert quantity_for_notional(Decimal("1000.00"), Decimal("3"), Decimal("1")) == Decimal("333")
    assert quantity_for_notional(Decimal("0.01"), Decimal("100000")) == Decimal("0")


@pytest.mark.parametrize(
    ("notional", "price_", "step", "message"),
    [
        (Decimal("10"), Decimal("0"), QTY_STEP, "price must be a positive"),
        (Decimal("10"), Decimal("-1"), QTY_STEP, "price must be a positive"),
        (Decimal("10"), Decimal("NaN"), QTY_STEP, "price must be a positive"),
        (Decimal("10"), Decimal("5"), Decimal("0"), "quantity step"),
        (Decimal("Infinity"), Decimal("5"), QTY_STEP, "notional must be finite"),
    ],
)
def test_quantity_refuses_unusable_inputs(
    notional: Decimal, price_: Decimal, step: Decimal, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        quantity_for_notional(notional, price_, step)


@settings(max_examples=200, deadline=None)
@given(
    notional=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e9"), places=2),
    px=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e6"), places=4),
)
def test_quantity_never_costs_more_than_the_notional(notional: Decimal, px: Decimal) -> None:
    qty = quantity_for_notional(notional, px)
    assert qty >= 0 and qty == qty.quantize(QTY_STEP)
    assert qty * px <= notional
    assert (qty + QTY_STEP) * px > notional
