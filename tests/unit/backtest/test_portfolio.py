"""Portfolio backtests: the kernel equals the plain-Python rules, vectorbt's shared-cash portfolio,
and the pipeline's decisions; caps and the REDUCING latch hold."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.backtest.portfolio import (
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
    limits = PortfolioLimits(max_weight=1.0, max_gross=1.0, max_positions=5)
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


def test_caps_hold_on_every_decision() -> None:
    index, open_, close = _market(120, 8, 5, gaps=False)
    weights = np.full(close.shape, 0.5)
    limits = PortfolioLimits(max_weight=0.2, max_gross=0.6, max_positions=3)
    result = run_portfolio(index, tuple("ABCDEFGH"), open_, close, weights, limits, fill_close=True)
    held = (np.abs(result.holdings) > 0).sum(axis=1)
    assert int(held.max()) == 3
    # With close fills and no costs, the gross weight right after each rebalance is the cap.
    assert float(result.gross_exposure.max()) == pytest.approx(0.6, rel=1e-9)
    assert bool(np.all(result.holdings >= 0))  # shorts are off by default


def test_a_drawdown_latches_reducing_and_no_order_after_it_adds_exposure() -> None:
    n = 60
    index = pd.date_range("2021-01-04", periods=n, freq="B")
    close = np.column_stack([np.linspace(100, 40, n), np.linspace(100, 120, n)])
    weights = np.column_stack([np.full(n, 0.5), np.linspace(0.05, 0.5, n)])
    limits = PortfolioLimits(max_weight=0.5, max_gross=1.0, max_drawdown=0.1)
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
    with pytest.raises(InputError, match="at least one symbol"):
        backtest_portfolio({}, get_strategy("momentum", {}), RiskConfig(), PortfolioLimits())
