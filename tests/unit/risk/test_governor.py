"""The risk governor as a pure function: states, each limit, latching, warnings, failing closed."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.risk.governor import (
    BookPosition,
    GovernorBook,
    GovernorLimits,
    GovernorOrder,
    GovernorState,
    evaluate,
    is_reducing,
)
from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_DRAWDOWN,
    KILL_SWITCH_GROSS_EXPOSURE,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_OPEN_POSITIONS,
    KILL_SWITCH_REDUCING,
    KILL_SWITCH_SYMBOL_WEIGHT,
    KILL_SWITCH_UNAVAILABLE,
    TRIP_REASONS,
)

pytestmark = pytest.mark.unit

D = Decimal
EQUITY = D(100_000)


def order(
    symbol: str = "AAPL", side: str = "buy", notional: float = 1_000, price: float = 100
) -> GovernorOrder:
    return GovernorOrder(symbol=symbol, side=side, notional=D(str(notional)), price=D(str(price)))


def book(state: GovernorState = GovernorState.ACTIVE, **kwargs: object) -> GovernorBook:
    values: dict[str, object] = {"starting_equity": EQUITY}
    values.update(kwargs)
    return GovernorBook(state=state, **values)  # type: ignore[arg-type]


LONG_AAPL = {"AAPL": BookPosition(D(100), D(100))}  # 100 shares at 100: 10,000 of exposure


def test_active_with_no_limits_passes() -> None:
    decision = evaluate(order(), book(), GovernorLimits())
    assert decision.allowed and decision.reason is None and decision.limit_use == {}


def test_halted_admits_nothing_not_even_a_reducing_order() -> None:
    decision = evaluate(order(side="sell"), book(GovernorState.HALTED, positions=LONG_AAPL), GovernorLimits())
    assert not decision.allowed and decision.reason == KILL_SWITCH_ACTIVE


@pytest.mark.parametrize(
    ("side", "notional", "held", "allowed"),
    [
        ("sell", 5_000, 100, True),  # sells 50 of 100 held
        ("sell", 10_000, 100, True),  # closes exactly
        ("sell", 10_100, 100, False),  # would flip to short
        ("buy", 1_000, 100, False),  # adds to the long
        ("buy", 1_000, -100, True),  # covers part of a short
        ("sell", 1_000, -100, False),  # adds to the short
        ("sell", 1_000, 0, False),  # nothing held: nothing to reduce
    ],
)
def test_reducing_admits_only_orders_that_shrink_a_position(
    side: str, notional: float, held: int, allowed: bool
) -> None:
    positions = {"AAPL": BookPosition(D(held), D(100))} if held else {}
    decision = evaluate(
        order(side=side, notional=notional),
        book(GovernorState.REDUCING, positions=positions),
        GovernorLimits(),
    )
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == KILL_SWITCH_REDUCING


def test_reserved_orders_count_towards_what_a_reducing_order_may_close() -> None:
    state = book(GovernorState.REDUCING, positions=LONG_AAPL, pending={"AAPL": D(-8_000)})  # 80 already sold
    assert evaluate(order(side="sell", notional=2_000), state, GovernorLimits()).allowed
    second = evaluate(order(side="sell", notional=2_100), state, GovernorLimits())
    assert not second.allowed and second.reason == KILL_SWITCH_REDUCING


def test_symbol_weight_is_checked_after_the_order_including_reservations() -> None:
    limits = GovernorLimits(max_symbol_weight=0.2)
    # held 10,000 + reserved 5,000 + this 4,000 = 19,000 of 100,000: 0.95 of the limit, passes with a warning
    passed = evaluate(order(notional=4_000), book(positions=LONG_AAPL, pending={"AAPL": D(5_000)}), limits)
    assert passed.allowed
    assert passed.limit_use["max_symbol_weight"] == pytest.approx(0.95)
    assert passed.warnings == ["max_symbol_weight"]
    tripped = evaluate(order(notional=6_000), book(positions=LONG_AAPL, pending={"AAPL": D(5_000)}), limits)
    assert not tripped.allowed and tripped.reason == KILL_SWITCH_SYMBOL_WEIGHT


def test_gross_exposure_and_open_positions() -> None:
    positions = {"AAPL": BookPosition(D(100), D(100)), "MSFT": BookPosition(D(-50), D(200))}  # 10k + 10k
    gross = evaluate(
        order("NVDA", notional=15_000), book(positions=positions), GovernorLimits(max_gross_exposure=0.3)
    )
    assert not gross.allowed and gross.reason == KILL_SWITCH_GROSS_EXPOSURE
    assert gross.limit_use["max_gross_exposure"] == pytest.approx(35_000 / 30_000, rel=1e-6)
    count = evaluate(order("NVDA"), book(positions=positions), GovernorLimits(max_open_positions=2))
    assert not count.allowed and count.reason == KILL_SWITCH_OPEN_POSITIONS
    same = evaluate(order("AAPL"), book(positions=positions), GovernorLimits(max_open_positions=2))
    assert same.allowed and same.limit_use["max_open_positions"] == 1.0


def test_open_order_cap_counts_what_the_book_says_is_open() -> None:
    limits = GovernorLimits(max_open_orders=5)
    assert evaluate(order(), book(open_orders=3), limits).limit_use["max_open_orders"] == pytest.approx(0.8)
    tripped = evaluate(order(), book(open_orders=5), limits)
    assert not tripped.allowed and tripped.reason == KILL_SWITCH_MAX_ORDERS


def test_daily_loss_marks_the_symbol_at_the_request_price_and_latches_reducing() -> None:
    limits = GovernorLimits(daily_loss=1_500)
    # 100 AAPL bought at 100, now 90: unrealised -1,000; realised today -600 -> loss 1,600
    state = book(positions=LONG_AAPL, realised_today=D(-600), realised_total=D(-600))
    buy = evaluate(order(price=90), state, limits)
    assert not buy.allowed and buy.reason == KILL_SWITCH_DAILY_LOSS
    assert buy.latch == GovernorState.REDUCING
    assert buy.limit_use["daily_loss"] == pytest.approx(1_600 / 1_500, rel=1e-6)
    sell = evaluate(order(side="sell", notional=900, price=90), state, limits)
    assert sell.allowed and sell.latch == GovernorState.REDUCING  # closing still goes, and the trip latches
    assert (
        sell.latched_by is not None and sell.latched_by[0] == KILL_SWITCH_DAILY_LOSS
    )  # named: only reset clears
    calm = evaluate(order(price=99), state, limits)  # loss 700: below the limit
    assert calm.allowed and calm.latch is None


def test_drawdown_from_the_high_water_mark_latches() -> None:
    limits = GovernorLimits(max_drawdown=0.1)
    # equity 100,000 - 12,000 realised = 88,000 against a mark of 100,000: 12 % drawdown
    tripped = evaluate(order(), book(realised_total=D(-12_000)), limits)
    assert not tripped.allowed and tripped.reason == KILL_SWITCH_DRAWDOWN
    assert tripped.latch == GovernorState.REDUCING
    assert tripped.high_water_mark == EQUITY and tripped.equity == D(88_000)
    # a mark of 0 (after a reset) is re-based at the current equity: no drawdown
    rebased = evaluate(order(), book(realised_total=D(-12_000), high_water_mark=D(0)), limits)
    assert rebased.allowed and rebased.high_water_mark == D(88_000)
    # the mark only rises
    risen = evaluate(order(), book(realised_total=D(5_000), high_water_mark=D(101_000)), limits)
    assert risen.high_water_mark == D(105_000)


@pytest.mark.parametrize(
    ("limits", "state"),
    [
        (GovernorLimits(max_symbol_weight=math.nan), book()),
        (GovernorLimits(max_gross_exposure=-1), book()),
        (GovernorLimits(max_open_positions=-1), book()),
        (GovernorLimits(daily_loss=math.inf), book()),
        (GovernorLimits(max_drawdown=0.1), book(realised_total=D("NaN"))),
        (GovernorLimits(max_drawdown=0.1), book(realised_total=D(-200_000))),  # equity below zero
        (GovernorLimits(max_symbol_weight=0.5), book(positions={"X": BookPosition(D(1), D(1), D(0))})),
        (GovernorLimits(), book(open_orders=-1, state=GovernorState.ACTIVE)),
    ],
)
def test_anything_unusable_refuses_as_unavailable(limits: GovernorLimits, state: GovernorBook) -> None:
    if state.open_orders < 0:
        limits = GovernorLimits(max_open_orders=3)
    decision = evaluate(order(), state, limits)
    assert not decision.allowed and decision.reason == KILL_SWITCH_UNAVAILABLE


def test_bad_orders_refuse_as_unavailable() -> None:
    for bad in (order(side="hold"), order(price=0), order(notional=-1), order(notional=math.inf)):
        decision = evaluate(bad, book(), GovernorLimits())
        assert not decision.allowed and decision.reason == KILL_SWITCH_UNAVAILABLE


# --- properties over random books and limits ------------------------------------------------

SYMBOLS = ["AAPL", "MSFT", "NVDA", "SPY"]
money = st.decimals(min_value=-50_000, max_value=50_000, places=2, allow_nan=False, allow_infinity=False)
price = st.decimals(min_value="0.5", max_value=1_000, places=2, allow_nan=False, allow_infinity=False)
qty = st.integers(min_value=-500, max_value=500).filter(bool).map(D)


@st.composite
def books(draw: st.DrawFn) -> GovernorBook:
    held = draw(
        st.dictionaries(st.sampled_from(SYMBOLS), st.tuples(qty, price, st.none() | price), max_size=4)
    )
    pending = draw(st.dictionaries(st.sampled_from(SYMBOLS), money, max_size=3))
    return GovernorBook(
        state=draw(st.sampled_from(list(GovernorState))),
        positions={s: BookPosition(q, c, m) for s, (q, c, m) in held.items()},
        pending=pending,
        open_orders=draw(st.integers(0, 12)),
        realised_today=draw(money),
        realised_total=draw(money),
        starting_equity=D(100_000),
        high_water_mark=draw(st.none() | st.decimals(min_value=0, max_value=200_000, places=2)),
    )


def optional(strategy: st.SearchStrategy[float] | st.SearchStrategy[int]) -> st.SearchStrategy[object]:
    return st.none() | strategy


limits_strategy = st.builds(
    GovernorLimits,
    max_symbol_weight=optional(st.floats(0.01, 3)),
    max_gross_exposure=optional(st.floats(0.01, 5)),
    max_open_positions=optional(st.integers(0, 6)),
    daily_loss=optional(st.floats(1, 60_000)),
    max_drawdown=optional(st.floats(0.01, 1)),
    max_open_orders=optional(st.integers(0, 12)),
)
orders = st.builds(
    GovernorOrder,
    symbol=st.sampled_from(SYMBOLS),
    side=st.sampled_from(["buy", "sell"]),
    notional=st.decimals(min_value=0, max_value=80_000, places=2),
    price=price,
)

# any value a broken reader or setting could hand over
junk_float = st.floats(allow_nan=True, allow_infinity=True) | st.none()
junk_decimal = st.decimals(allow_nan=True, allow_infinity=True)


@settings(max_examples=300, deadline=None)
@given(order=orders, state=books(), limits=limits_strategy)
def test_property_a_refusal_always_names_a_kill_switch_reason(
    order: GovernorOrder, state: GovernorBook, limits: GovernorLimits
) -> None:
    decision = evaluate(order, state, limits)
    if decision.allowed:
        assert decision.reason is None
    else:
        assert decision.reason in TRIP_REASONS
    if state.state == GovernorState.HALTED:
        assert not decision.allowed


@settings(max_examples=300, deadline=None)
@given(
    order=orders,
    state=books(),
    weight=junk_float,
    gross=junk_float,
    loss=junk_float,
    drawdown=junk_float,
    today=junk_decimal,
)
def test_property_fails_closed_on_unusable_values(
    order: GovernorOrder,
    state: GovernorBook,
    weight: float | None,
    gross: float | None,
    loss: float | None,
    drawdown: float | None,
    today: Decimal,
) -> None:
    limits = GovernorLimits(
        max_symbol_weight=weight, max_gross_exposure=gross, daily_loss=loss, max_drawdown=drawdown
    )
    bad_limit = any(
        v is not None and not (math.isfinite(v) and v > 0) for v in (weight, gross, loss, drawdown)
    )
    state = replace(state, realised_today=today)
    decision = evaluate(order, state, limits)  # never raises
    needs_book = limits.needs_book and state.state != GovernorState.HALTED
    held = state.positions[order.symbol].qty if order.symbol in state.positions else D(0)
    after = held + state.pending.get(order.symbol, D(0)) / order.price
    reduces = held != 0 and (after > 0) == (held > 0) and is_reducing(order, after)
    reducing_refused = state.state == GovernorState.REDUCING and not reduces
    if needs_book and not reducing_refused and (bad_limit or not today.is_finite()):
        assert not decision.allowed and decision.reason == KILL_SWITCH_UNAVAILABLE


@settings(max_examples=300, deadline=None)
@given(order=orders, state=books(), limits=limits_strategy)
def test_property_reducing_never_admits_an_increasing_order(
    order: GovernorOrder, state: GovernorBook, limits: GovernorLimits
) -> None:
    reducing = replace(state, state=GovernorState.REDUCING)
    decision = evaluate(order, reducing, limits)
    if decision.allowed:
        # what the symbol holds once the orders already reserved are done
        held = reducing.positions[order.symbol].qty  # only a held position can be reduced
        held += reducing.pending.get(order.symbol, D(0)) / order.price
        after = held + (order.notional if order.side == "buy" else -order.notional) / order.price
        assert abs(after) <= abs(held) and (after == 0 or (after > 0) == (held > 0))


@settings(max_examples=400, deadline=None)
@given(order=orders, state=books(), limits=limits_strategy, factor=st.floats(0.05, 1.0))
def test_property_tightening_a_limit_never_turns_a_refusal_into_a_pass(
    order: GovernorOrder, state: GovernorBook, limits: GovernorLimits, factor: float
) -> None:
    def tighter(value: float | int | None, integer: bool = False) -> float | int | None:
        if value is None:
            return None
        return math.floor(value * factor) if integer else value * factor

    tightened = GovernorLimits(
        max_symbol_weight=tighter(limits.max_symbol_weight),
        max_gross_exposure=tighter(limits.max_gross_exposure),
        max_open_positions=tighter(limits.max_open_positions, integer=True),  # type: ignore[arg-type]
        daily_loss=tighter(limits.daily_loss),
        max_drawdown=tighter(limits.max_drawdown),
        max_open_orders=tighter(limits.max_open_orders, integer=True),  # type: ignore[arg-type]
    )
    before = evaluate(order, state, limits)
    after = evaluate(order, state, tightened)
    if not before.allowed:
        assert not after.allowed
