"""Portfolio backtests: both kernels equal their plain-Python rules, scale mode vectorbt's
shared-cash portfolio, and the pipeline's decisions; caps and the REDUCING latch hold."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.backtest.portfolio import (
    REFUSAL_REASONS,
    PortfolioLimits,
    backtest_portfolio,
    reference_portfolio,
    run_portfolio,
)
from app.errors import InputError
from app.risk.sizing import RiskConfig
from app.strategies import get_strategy


def _market(n: int, m: int, seed: int, gaps: bool = True) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (n, m)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.004, (n, m)))
    if gaps and m > 1 and n > 30:
        close[10:20, 1] = np.nan  # a halted symbol
        open_[10:20, 1] = np.nan
    return pd.date_range("2021-01-04", periods=n, freq="B"), open_, close


@given(
    seed=st.integers(0, 10_000),
    fill_close=st.booleans(),
    allow_short=st.booleans(),
    max_positions=st.integers(1, 6),
    max_gross=st.floats(0.3, 1.0),
    max_drawdown=st.floats(0.05, 1.0),
    band=st.floats(0.0, 0.05),
)
@settings(max_examples=40, deadline=None)
def test_kernel_equals_the_plain_python_rules(
    seed: int,
    fill_close: bool,
    allow_short: bool,
    max_positions: int,
    max_gross: float,
    max_drawdown: float,
    band: float,
) -> None:
    index, open_, close = _market(80, 6, seed)
    rng = np.random.default_rng(seed + 1)
    weights = rng.choice([0.0, 0.1, 0.3, -0.2, np.nan], size=close.shape)
    limits = PortfolioLimits(
        max_weight=0.25,
        max_gross=max_gross,
        max_positions=max_positions,
        max_drawdown=max_drawdown,
        band_fraction=band,
        allow_short=allow_short,
        cap_mode="scale",
    )
    result = run_portfolio(
        index,
        tuple("ABCDEF"),
        open_,
        close,
        weights,
        limits,
        commission=0.001,
        slippage_bps=5,
        fill_close=fill_close,
    )
    equity, fills = reference_portfolio(
        open_,
        close,
        weights,
        limits,
        initial_cash=100_000.0,
        commission=0.001,
        slippage=0.0005,
        fill_close=fill_close,
    )
    np.testing.assert_allclose(result.equity, equity, rtol=1e-9)
    assert len(result.fills) == len(fills)
    if fills:
        np.testing.assert_allclose(result.fills, np.array(fills), rtol=1e-9)


def test_matches_vectorbt_grouped_shared_cash_target_percent() -> None:
    vbt = pytest.importorskip("vectorbt")
    index, _, close = _market(300, 5, 3, gaps=False)
    rng = np.random.default_rng(4)
    weights = rng.dirichlet(np.ones(5), size=300) * 0.9
    weights[rng.uniform(size=weights.shape) < 0.3] = 0.0
    limits = PortfolioLimits(max_weight=1.0, max_gross=1.0, max_positions=5, cap_mode="scale")
    ours = run_portfolio(
        index, tuple("ABCDE"), close, close, weights, limits, commission=0.001, fill_close=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = vbt.Portfolio.from_orders(
            pd.DataFrame(close, index=index),
            size=pd.DataFrame(weights, index=index),
            size_type="targetpercent",
            group_by=True,
            cash_sharing=True,
            call_seq="auto",
            fees=0.001,
            init_cash=100_000.0,
            freq="1D",
        )
        value = theirs.value().to_numpy()
        orders = int(theirs.orders.count())
    np.testing.assert_allclose(ours.equity, value, rtol=1e-12)
    assert len(ours.fills) == orders


def test_scale_mode_caps_hold_on_every_decision() -> None:
    index, open_, close = _market(120, 8, 5, gaps=False)
    weights = np.full(close.shape, 0.5)
    limits = PortfolioLimits(max_weight=0.2, max_gross=0.6, max_positions=3, cap_mode="scale")
    result = run_portfolio(index, tuple("ABCDEFGH"), open_, close, weights, limits, fill_close=True)
    held = (np.abs(result.holdings) > 0).sum(axis=1)
    assert int(held.max()) == 3
    # With close fills and no costs, the gross weight right after each rebalance is the cap.
    assert float(result.gross_exposure.max()) == pytest.approx(0.6, rel=1e-9)
    assert bool(np.all(result.holdings >= 0))  # shorts are off by default


@pytest.mark.parametrize("cap_mode", ["governor", "scale"])
def test_a_drawdown_latches_reducing_and_no_order_after_it_adds_exposure(cap_mode: str) -> None:
    n = 60
    index = pd.date_range("2021-01-04", periods=n, freq="B")
    close = np.column_stack([np.linspace(100, 40, n), np.linspace(100, 120, n)])
    weights = np.column_stack([np.full(n, 0.5), np.linspace(0.05, 0.5, n)])
    limits = PortfolioLimits(max_weight=0.5, max_gross=1.0, max_drawdown=0.1, cap_mode=cap_mode)
    result = run_portfolio(index, ("DOWN", "UP"), close, close, weights, limits, fill_close=True)
    assert result.reducing_since is not None
    latch = index.get_loc(result.reducing_since)
    after = result.fills[result.fills[:, 0] > latch]
    held_before = result.holdings[latch]
    for bar, symbol, qty, _, _ in after:
        before = result.holdings[int(bar) - 1, int(symbol)]
        assert abs(before + qty) <= abs(before) + 1e-9  # only ever towards zero
    assert bool(np.all(np.abs(result.holdings[-1]) <= np.abs(held_before) + 1e-9))


def test_pipeline_portfolio_trades_each_symbols_decisions_on_shared_cash() -> None:
    rng = np.random.default_rng(9)
    bars = {}
    for k, symbol in enumerate(("AAA", "BBB", "CCC")):
        close = 50.0 * (k + 1) * np.exp(np.cumsum(rng.normal(0.0004, 0.015, 700)))
        frame = pd.DataFrame(
            {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1e6},
            index=pd.date_range("2018-01-02", periods=700, freq="B", tz="UTC"),
        )
        bars[symbol] = frame.iloc[k * 20 :]  # staggered starts: the union index has gaps per symbol
    risk = RiskConfig(agent="fractional_kelly", fraction=0.5, max_position_fraction=0.3)
    result = backtest_portfolio(
        bars,
        get_strategy("momentum", {"lookback": 20}),
        risk,
        PortfolioLimits(max_weight=0.3),
        commission=0.0005,
    )
    assert len(result.index) == 700
    assert result.symbols == ("AAA", "BBB", "CCC")
    assert len(result.fills) > 10
    pnl = result.pnl_by_symbol()
    # P&L per symbol adds up to the portfolio's.
    assert sum(pnl.values()) == pytest.approx(result.final_equity - result.initial_cash, rel=1e-9, abs=1e-6)
    frame = result.fills_frame()
    assert set(frame["symbol"]) <= {"AAA", "BBB", "CCC"}
    assert bool((frame["timestamp"] >= pd.Timestamp("2018-01-02", tz="UTC")).all())


def test_bad_input_is_refused() -> None:
    index, open_, close = _market(20, 2, 1, gaps=False)
    with pytest.raises(InputError, match="must match"):
        run_portfolio(index, ("A", "B"), open_, close, np.zeros((20, 3)), PortfolioLimits())
    with pytest.raises(InputError, match="initial cash"):
        run_portfolio(
            index, ("A", "B"), open_, close, np.zeros((20, 2)), PortfolioLimits(), initial_cash=float("inf")
        )
    with pytest.raises(InputError, match="max_weight"):
        PortfolioLimits(max_weight=0.0)
    with pytest.raises(InputError, match="cap_mode"):
        PortfolioLimits(cap_mode="clip")
    with pytest.raises(InputError, match="at least one symbol"):
        backtest_portfolio({}, get_strategy("momentum", {}), RiskConfig(), PortfolioLimits())


def _governed_reference(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    limits: PortfolioLimits,
    *,
    commission: float,
    slippage: float,
    fill_close: bool,
    cash: float = 100_000.0,
) -> tuple[list[float], list[tuple[int, int, float, float, float]], set[tuple[int, int, int]]]:
    """Governor mode in plain Python, each measure recomputed from the book (no running sums)."""
    n, m = close.shape
    qty, mark, last = [0.0] * m, [0.0] * m, [math.nan] * m
    peak, reducing = cash, False
    curve: list[float] = []
    fills: list[tuple[int, int, float, float, float]] = []
    refused: set[tuple[int, int, int]] = set()

    def ok(x: float) -> bool:
        return x == x and 0.0 < x < math.inf

    for t in range(n):
        d = t if fill_close else t - 1
        if d >= 0:
            marked = cash + sum(
                qty[s] * (close[d][s] if ok(close[d][s]) else (last[s] if ok(last[s]) else 0.0))
                for s in range(m)
            )
            peak = max(peak, marked)
            reducing = reducing or (peak - marked) / peak >= limits.max_drawdown
            pending = [0.0] * m
            for s in range(m):  # the pass marks every symbol with a close on d first
                if ok(close[d][s]):
                    mark[s] = close[d][s]
            for s in range(m):
                px = close[d][s]
                if not ok(px):
                    continue
                fill_px = close[t][s] if fill_close else open_[t][s]
                if not ok(fill_px):
                    continue
                equity = cash + sum(qty[k] * mark[k] for k in range(m))
                w = weights[d][s]
                w = 0.0 if (w != w or (w < 0 and not limits.allow_short)) else float(w)
                held = qty[s]
                if equity <= 0:
                    if w != 0 or held != 0:
                        refused.add((d, s, 6))
                    continue
                target = w * equity / px
                delta = target - held
                if delta == 0 or (abs(delta) * px < limits.band_fraction * equity and target != 0):
                    continue
                reduces = held != 0 and delta * held < 0 and abs(delta) <= abs(held)
                if not reduces:
                    exposure = [(qty[k] + pending[k]) * mark[k] for k in range(m)]
                    exposure[s] = (held + delta) * px
                    spent = sum(
                        pending[k] * (close[t][k] if fill_close else open_[t][k])
                        for k in range(m)
                        if pending[k] > 0
                    )
                    code = 0
                    if reducing:
                        code = 4
                    elif abs(exposure[s]) / equity > limits.max_weight:
                        code = 1
                    elif sum(abs(x) for x in exposure) / equity > limits.max_gross:
                        code = 2
                    elif sum(1 for x in exposure if x != 0) > limits.max_positions:
                        code = 3
                    elif delta > 0 and delta * fill_px * (1 + slippage) * (1 + commission) > cash - spent * (
                        1 + slippage
                    ) * (1 + commission):
                        code = 5
                    if code:
                        refused.add((d, s, code))
                        continue
                if fill_close:
                    price = fill_px * (1 + slippage if delta > 0 else 1 - slippage)
                    fee = abs(delta) * price * commission
                    cash -= delta * price + fee
                    qty[s] += delta
                    fills.append((t, s, delta, price, fee))
                else:
                    pending[s] = delta
            if not fill_close:
                for sells in (True, False):
                    for s in range(m):
                        delta = pending[s]
                        if delta == 0 or (delta < 0) != sells:
                            continue
                        price = open_[t][s] * (1 + slippage if delta > 0 else 1 - slippage)
                        fee = abs(delta) * price * commission
                        cash -= delta * price + fee
                        qty[s] += delta
                        mark[s] = open_[t][s]
                        fills.append((t, s, delta, price, fee))
        for s in range(m):
            if ok(close[t][s]):
                last[s] = close[t][s]
        curve.append(cash + sum(qty[s] * last[s] for s in range(m) if qty[s] != 0 and ok(last[s])))
    return curve, fills, refused


@given(
    seed=st.integers(0, 10_000),
    fill_close=st.booleans(),
    allow_short=st.booleans(),
    max_positions=st.integers(1, 6),
    # caps off the grid of the drawn weights' sums (multiples of 0.1): an order that lands exactly
    # on a cap is a floating-point tie the kernel's running sums and the reference may break apart
    max_gross=st.sampled_from([0.35, 0.55, 0.75, 0.95, 1.25]),
    max_weight=st.sampled_from([0.15, 0.25, 0.35, 0.45]),
    max_drawdown=st.floats(0.05, 1.0),
    band=st.floats(0.0, 0.05),
)
@settings(max_examples=40, deadline=None)
def test_governor_kernel_equals_the_plain_python_rules(
    seed: int,
    fill_close: bool,
    allow_short: bool,
    max_positions: int,
    max_gross: float,
    max_weight: float,
    max_drawdown: float,
    band: float,
) -> None:
    index, open_, close = _market(80, 6, seed)
    rng = np.random.default_rng(seed + 1)
    weights = rng.choice([0.0, 0.1, 0.3, -0.2, np.nan], size=close.shape)
    limits = PortfolioLimits(
        max_weight=max_weight,
        max_gross=max_gross,
        max_positions=max_positions,
        max_drawdown=max_drawdown,
        band_fraction=band,
        allow_short=allow_short,
    )
    assert limits.cap_mode == "governor"  # the default
    result = run_portfolio(
        index,
        tuple("ABCDEF"),
        open_,
        close,
        weights,
        limits,
        commission=0.001,
        slippage_bps=5,
        fill_close=fill_close,
    )
    equity, fills, refused = _governed_reference(
        open_, close, weights, limits, commission=0.001, slippage=0.0005, fill_close=fill_close
    )
    np.testing.assert_allclose(result.equity, equity, rtol=1e-9)
    assert len(result.fills) == len(fills)
    if fills:
        np.testing.assert_allclose(result.fills, np.array(fills), rtol=1e-9, atol=1e-9)
    assert result.refusals is not None
    rows, cols = np.nonzero(result.refusals)
    assert {(int(r), int(c), int(result.refusals[r, c])) for r, c in zip(rows, cols, strict=True)} == refused


def _flat(n: int, m: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    return pd.date_range("2021-01-04", periods=n, freq="B"), np.full((n, m), 100.0)


@pytest.mark.parametrize("names", ["ABC", "CBA"])
def test_governor_refuses_whole_orders_in_routing_order(names: str) -> None:
    index, close = _flat(10, 3)
    weights = np.full(close.shape, 0.3)
    limits = PortfolioLimits(max_weight=1.0, max_gross=0.65, max_positions=3)
    result = run_portfolio(index, tuple(names), close, close, weights, limits, fill_close=True)
    # the first two routed are bought whole (0.3 + 0.3), the third would take gross to 0.9
    assert result.holdings[-1, 0] == pytest.approx(300.0)
    assert result.holdings[-1, 1] == pytest.approx(300.0)
    assert result.holdings[-1, 2] == 0.0
    frame = result.refusals_frame()
    assert list(frame["symbol"]) == [names[2]] * 10
    assert set(frame["reason"]) == {"kill_switch_gross_exposure"}
    assert result.refusal_counts() == {"kill_switch_gross_exposure": 10}
    # scale mode instead shrinks all three to fit
    scaled = run_portfolio(
        index, tuple(names), close, close, weights, replace_mode(limits, "scale"), fill_close=True
    )
    np.testing.assert_allclose(scaled.holdings[-1], 0.65 / 0.9 * 300.0)
    assert scaled.refusals is None and scaled.refusal_counts() == {}


def replace_mode(limits: PortfolioLimits, mode: str) -> PortfolioLimits:
    return dataclasses.replace(limits, cap_mode=mode)


def test_governor_symbol_weight_and_positions_caps_refuse_not_clip() -> None:
    index, close = _flat(5, 3)
    weights = np.tile([0.3, 0.1, 0.1], (5, 1))
    result = run_portfolio(
        index,
        ("A", "B", "C"),
        close,
        close,
        weights,
        PortfolioLimits(max_weight=0.25, max_positions=1),
        fill_close=True,
    )
    # A is refused whole (0.3 > 0.25), B fills the one position, C finds it taken
    assert result.holdings[-1].tolist() == [0.0, pytest.approx(100.0), 0.0]
    reasons = result.refusals_frame().groupby("symbol")["reason"].first().to_dict()
    assert reasons == {"A": "kill_switch_symbol_weight", "C": "kill_switch_open_positions"}
    assert REFUSAL_REASONS[3] == "kill_switch_open_positions"


def test_governor_reducing_orders_pass_above_the_cap_and_gross_drifts_with_prices() -> None:
    index = pd.date_range("2021-01-04", periods=6, freq="B")
    close = np.column_stack([[100.0, 100.0, 200.0, 200.0, 200.0, 200.0], np.full(6, 100.0)])
    weights = np.column_stack([[0.25, 0.25, 0.38, 0.38, 0.38, 0.38], np.full(6, 0.32)])
    limits = PortfolioLimits(max_weight=0.35, max_gross=0.6, max_positions=2)
    result = run_portfolio(index, ("A", "B"), close, close, weights, limits, fill_close=True)
    assert result.refusals is not None
    # bar 0: A 0.25 and B 0.32 of 100,000 (gross 0.57)
    np.testing.assert_allclose(result.holdings[0], [250.0, 320.0])
    # bar 2: A doubles (0.4 of 125,000); its trim to 0.38 reduces, so it passes though 0.38 is
    # above the 0.35 cap; B's top-up to 0.32 would take gross to 0.7: refused whole, every bar
    a_fills = result.fills[result.fills[:, 1] == 0]
    assert [(int(b), q) for b, _, q, _, _ in a_fills] == [(0, 250.0), (2, pytest.approx(-12.5))]
    assert not result.refusals[:, 0].any()
    assert result.refusals[2:, 1].tolist() == [2, 2, 2, 2]
    # nothing forces a sale when prices push gross above the cap: it stays at 0.636
    assert result.gross_exposure[2] == pytest.approx((47_500 + 32_000) / 125_000)
    assert result.gross_exposure[-1] > limits.max_gross


def test_governor_pass_marks_every_symbol_at_the_decision_close_before_sizing() -> None:
    """The first symbol routed is sized on an equity that already values the second at its
    new close (not at the previous bar's), and the second on both new closes."""
    index = pd.date_range("2021-01-04", periods=2, freq="B")
    close = np.array([[100.0, 100.0], [120.0, 110.0]])
    weights = np.full(close.shape, 0.25)
    limits = PortfolioLimits(max_weight=1.0, max_gross=1.0, max_positions=2)
    result = run_portfolio(index, ("A", "B"), close, close, weights, limits, fill_close=True)
    np.testing.assert_allclose(result.holdings[0], [250.0, 250.0], rtol=1e-15)
    # bar 1: 50,000 cash + 250 x 120 + 250 x 110 = 107,500 for both (A's sale at its mark
    # leaves the equity B is sized on unchanged); B at its old 100 would give A 105,000
    equity = 50_000.0 + 250.0 * 120.0 + 250.0 * 110.0
    np.testing.assert_allclose(result.holdings[1], [0.25 * equity / 120.0, 0.25 * equity / 110.0], rtol=1e-12)
    assert result.holdings[1, 0] == pytest.approx(223.958333333, rel=1e-10)
    assert result.holdings[1, 1] == pytest.approx(244.318181818, rel=1e-10)
    assert result.equity[1] == pytest.approx(equity, rel=1e-12)


@pytest.mark.parametrize("cap_mode", ["governor", "scale"])
@pytest.mark.parametrize("fill_close", [True, False])
def test_a_fill_buffer_too_small_is_refused_not_truncated(cap_mode: str, fill_close: bool) -> None:
    """Past the fill buffer the run is refused with the capacity named; with room enough the
    same run keeps every fill (the buffer never silently drops one)."""
    index, open_, close = _market(40, 2, seed=7, gaps=False)
    weights = np.where(np.arange(40)[:, None] % 2 == 0, 0.2, 0.0) * np.ones((1, 2))  # in, out, in, ...
    limits = PortfolioLimits(max_weight=0.25, max_gross=1.0, max_positions=2, cap_mode=cap_mode)
    args = (index, ("A", "B"), open_, close, weights, limits)
    whole = run_portfolio(*args, fill_close=fill_close)
    assert len(whole.fills) > 10
    exact = run_portfolio(*args, fill_close=fill_close, max_fills=len(whole.fills))
    np.testing.assert_array_equal(exact.fills, whole.fills)
    np.testing.assert_array_equal(exact.equity, whole.equity)
    with pytest.raises(InputError, match=f"more than {len(whole.fills) - 1} fills"):
        run_portfolio(*args, fill_close=fill_close, max_fills=len(whole.fills) - 1)
