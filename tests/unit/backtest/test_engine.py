"""Engine conventions on hand-computed cases, metrics against pandas, properties, status codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.backtest.engine import (
    N_METRICS,
    N_TRADE_FIELDS,
    STATUS_BAD_PARAM,
    STATUS_BAD_PRICE,
    STATUS_BAD_TARGET,
    STATUS_EMPTY,
    STATUS_OK,
    STATUS_RUINED,
    STATUS_SHAPE,
    EngineConfig,
    periods_per_year,
    run_backtest,
    simulate_metrics_nb,
    simulate_nb,
)
from app.errors import InputError


def bars_from(open_: list[float], close: list[float], freq: str = "D") -> pd.DataFrame:
    index = pd.date_range("2021-01-04", periods=len(close), freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "close": close}, index=index, dtype=float)


def random_bars(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    return bars_from(list(open_), list(close))


def test_long_fills_at_next_open_and_is_closed_at_the_last_close() -> None:
    bars = bars_from([10, 10, 12, 13], [10, 11, 12, 14])
    result = run_backtest(bars, np.array([1.0, 1.0, 1.0, 1.0]), EngineConfig(initial_cash=100.0))
    # decision on bar 0 -> buy 10 units at bar 1's open (10); closed at the last close (14)
    assert result.num_trades == 1
    trade = result.trades.iloc[0]
    assert (trade.entry_bar, trade.exit_bar, trade.side) == (1, 3, "long")
    assert trade.qty == pytest.approx(10.0)
    assert trade.exit_price == 14.0
    np.testing.assert_allclose(result.equity.to_numpy(), [100, 110, 120, 140])
    assert result.final_equity == pytest.approx(140.0)
    assert result.metrics["exposure"] == pytest.approx(0.75)
    assert result.metrics["win_rate"] == 1.0
    assert result.trades.entry_time.iloc[0] == bars.index[1]


def test_commission_is_charged_on_each_side_and_sizes_all_in() -> None:
    bars = bars_from([10, 10, 10], [10, 10, 10])
    c = 0.01
    result = run_backtest(bars, np.array([1.0, 1.0, 1.0]), EngineConfig(commission=c, initial_cash=100.0))
    qty = 100.0 / (10 * (1 + c))
    assert result.trades.qty.iloc[0] == pytest.approx(qty)
    expected = qty * 10 * (1 - c)
    assert result.final_equity == pytest.approx(expected)
    assert result.trades.fees.iloc[0] == pytest.approx(100.0 - expected)
    assert result.trades.pnl.iloc[0] == pytest.approx(expected - 100.0)


def test_slippage_moves_fills_against_the_trader() -> None:
    bars = bars_from([10, 10, 10], [10, 10, 10])
    result = run_backtest(bars, np.array([1.0, 0.0, 0.0]), EngineConfig(slippage_bps=100, initial_cash=100.0))
    trade = result.trades.iloc[0]
    assert trade.entry_price == pytest.approx(10.1)
    assert trade.exit_price == pytest.approx(9.9)
    assert result.final_equity == pytest.approx(100 / 10.1 * 9.9)


def test_close_fills_trade_on_the_decision_bar() -> None:
    bars = bars_from([10, 10, 12, 13], [10, 11, 12, 14])
    result = run_backtest(
        bars, np.array([1.0, 1.0, 0.0, 0.0]), EngineConfig(fill="close", initial_cash=100.0)
    )
    trade = result.trades.iloc[0]
    assert (trade.entry_bar, trade.exit_bar) == (0, 2)
    assert (trade.entry_price, trade.exit_price) == (10.0, 12.0)
    assert result.final_equity == pytest.approx(120.0)


def test_a_decision_on_the_last_bar_is_dropped() -> None:
    bars = bars_from([10, 10, 10], [10, 11, 12])
    for fill in ("next_open", "close"):
        result = run_backtest(bars, np.array([0.0, 0.0, 1.0]), EngineConfig(fill=fill))  # type: ignore[arg-type]
        assert result.num_trades == 0
        assert result.final_equity == 10_000.0


def test_reversal_closes_the_long_then_shorts_with_the_cash_after_closing() -> None:
    bars = bars_from([10, 10, 20, 20, 10], [10, 10, 20, 20, 10])
    result = run_backtest(bars, np.array([1.0, -1.0, -1.0, -1.0, -1.0]), EngineConfig(initial_cash=100.0))
    long_, short = result.trades.iloc[0], result.trades.iloc[1]
    assert (long_.side, long_.entry_bar, long_.exit_bar, long_.exit_price) == ("long", 1, 2, 20.0)
    assert (short.side, short.entry_bar, short.qty) == ("short", 2, pytest.approx(10.0))  # 200 cash / 20
    # short 10 units at 20, covered at the last close 10: +100
    assert result.final_equity == pytest.approx(300.0)
    assert short.pnl == pytest.approx(100.0)


def test_fraction_below_one_commits_that_share_of_cash() -> None:
    bars = bars_from([10, 10, 20], [10, 10, 20])
    result = run_backtest(bars, np.array([0.25, 0.25, 0.25]), EngineConfig(initial_cash=100.0))
    assert result.trades.qty.iloc[0] == pytest.approx(2.5)
    assert result.final_equity == pytest.approx(125.0)


def test_size_changes_on_the_same_side_do_not_rebalance() -> None:
    bars = bars_from([10, 10, 10, 10], [10, 10, 10, 10])
    result = run_backtest(bars, np.array([0.5, 1.0, 0.2, 0.2]), EngineConfig(initial_cash=100.0))
    assert result.num_trades == 1
    assert result.trades.qty.iloc[0] == pytest.approx(5.0)


def test_ruin_liquidates_and_stops_trading() -> None:
    bars = bars_from([10, 10, 30, 30], [10, 10, 30, 5])
    result = run_backtest(bars, np.array([-1.0, -1.0, -1.0, -1.0]), EngineConfig(initial_cash=100.0))
    assert result.status == STATUS_RUINED
    assert result.num_trades == 1
    assert result.final_equity < 0  # lost more than the account on the short
    assert result.equity.iloc[-1] == result.equity.iloc[-2]


def test_metrics_agree_with_pandas_on_the_equity_curve() -> None:
    bars = random_bars(400, 2)
    rng = np.random.default_rng(9)
    target = np.repeat(rng.choice([-1.0, 0.0, 1.0], 40), 10)
    result = run_backtest(bars, target, EngineConfig(commission=0.001))
    eq = pd.concat([pd.Series([10_000.0]), result.equity.reset_index(drop=True)])
    returns = eq.pct_change().dropna()
    assert result.metrics["sharpe"] == pytest.approx(returns.mean() / returns.std() * np.sqrt(252), rel=1e-9)
    downside = np.sqrt((np.minimum(returns, 0) ** 2).mean())
    assert result.metrics["sortino"] == pytest.approx(returns.mean() / downside * np.sqrt(252), rel=1e-9)
    drawdown = (eq / eq.cummax() - 1).min()
    assert result.metrics["max_drawdown"] == pytest.approx(drawdown, rel=1e-12)
    years = (bars.index[-1] - bars.index[0]).total_seconds() / (365.25 * 86400)
    cagr = (eq.iloc[-1] / 10_000.0) ** (1 / years) - 1
    assert result.metrics["cagr"] == pytest.approx(cagr, rel=1e-9)
    assert result.metrics["total_return"] == pytest.approx(eq.iloc[-1] / 10_000 - 1)
    assert result.metrics["win_rate"] == pytest.approx((result.trades.pnl > 0).mean())
    assert result.num_trades == len(result.trades)


def test_metrics_only_kernel_agrees_with_the_full_kernel() -> None:
    bars = random_bars(300, 4)
    target = np.repeat(np.array([1.0, -1.0, 0.0] * 10), 10)
    full = run_backtest(bars, target, EngineConfig(commission=0.002, slippage_bps=5))
    metrics = np.empty(N_METRICS)
    status = simulate_metrics_nb(
        bars.open.to_numpy(),
        bars.close.to_numpy(),
        target,
        False,
        0.002,
        5e-4,
        10_000.0,
        252.0,
        (bars.index[-1] - bars.index[0]).total_seconds() / (365.25 * 86400),
        metrics,
    )
    assert status == STATUS_OK
    np.testing.assert_array_equal(metrics, np.array(list(full.metrics.values())))


@pytest.mark.parametrize(
    ("open_", "close", "target", "commission", "cash", "status"),
    [
        ([1.0, 1.0], [1.0], [0.0, 0.0], 0.0, 1.0, STATUS_SHAPE),
        ([], [], [], 0.0, 1.0, STATUS_EMPTY),
        ([1.0], [1.0], [0.0], 1.0, 1.0, STATUS_BAD_PARAM),
        ([1.0], [1.0], [0.0], 0.0, 0.0, STATUS_BAD_PARAM),
        ([1.0, np.nan], [1.0, 1.0], [0.0, 0.0], 0.0, 1.0, STATUS_BAD_PRICE),
        ([1.0, 1.0], [1.0, -1.0], [0.0, 0.0], 0.0, 1.0, STATUS_BAD_PRICE),
        ([1.0, 1.0], [1.0, 1.0], [2.0, 0.0], 0.0, 1.0, STATUS_BAD_TARGET),
    ],
)
def test_kernel_reports_bad_input_as_status_codes(
    open_: list[float], close: list[float], target: list[float], commission: float, cash: float, status: int
) -> None:
    metrics = np.empty(N_METRICS)
    got = simulate_nb(
        np.array(open_),
        np.array(close),
        np.array(target),
        False,
        commission,
        0.0,
        cash,
        252.0,
        1.0,
        np.empty(0),
        np.empty((0, N_TRADE_FIELDS)),
        metrics,
    )
    assert got == status


def test_wrapper_raises_input_error_with_the_reason() -> None:
    with pytest.raises(InputError, match="missing, zero, negative or infinite"):
        run_backtest(bars_from([1.0, 0.0], [1.0, 1.0]), np.zeros(2))
    with pytest.raises(InputError, match="differ in length"):
        run_backtest(bars_from([1.0, 1.0], [1.0, 1.0]), np.zeros(3))
    with pytest.raises(InputError, match="no 'open' column"):
        run_backtest(pd.DataFrame({"close": [1.0]}), np.zeros(1))


@pytest.mark.parametrize(
    "kwargs", [{"fill": "vwap"}, {"commission": -0.1}, {"slippage_bps": 1e5}, {"initial_cash": 0}]
)
def test_engine_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(InputError):
        EngineConfig(**kwargs)


def test_nan_targets_count_as_flat() -> None:
    bars = bars_from([10, 10, 12], [10, 11, 12])
    result = run_backtest(bars, np.array([np.nan, np.nan, np.nan]))
    assert result.num_trades == 0


@pytest.mark.parametrize(
    ("freq", "expected"), [("D", 252.0), ("W", 52.0), ("h", 252 * 6.5), ("5min", 252 * 78)]
)
def test_periods_per_year_follows_the_bar_spacing(freq: str, expected: float) -> None:
    index = pd.date_range("2022-01-03", periods=10, freq=freq, tz="UTC")
    assert periods_per_year(index) == pytest.approx(expected)


# --- properties --------------------------------------------------------------------------

targets = st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0]), min_size=30, max_size=30)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cut=st.integers(1, 29),
    target=targets,
    fill=st.sampled_from(["next_open", "close"]),
)
def test_no_look_ahead_perturbing_later_bars_changes_nothing_before(
    seed: int, cut: int, target: list[float], fill: str
) -> None:
    bars = random_bars(30, seed)
    config = EngineConfig(fill=fill, commission=0.001)  # type: ignore[arg-type]
    changed = bars.copy()
    rng = np.random.default_rng(seed)
    factor = np.exp(rng.normal(0, 0.2, 30 - cut))
    changed.iloc[cut:, 0] *= factor
    changed.iloc[cut:, 1] *= factor[::-1]
    later_target = np.array(target)
    later_target[cut:] = rng.choice([-1.0, 0.0, 1.0], 30 - cut)
    a = run_backtest(bars, np.array(target), config)
    b = run_backtest(changed, later_target, config)
    np.testing.assert_array_equal(a.equity.to_numpy()[:cut], b.equity.to_numpy()[:cut])
    closed_before = a.trades[a.trades.exit_bar < cut]
    pd.testing.assert_frame_equal(closed_before, b.trades.iloc[: len(closed_before)])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), fill=st.sampled_from(["next_open", "close"]))
def test_zero_commission_flat_strategy_keeps_equity_constant(seed: int, fill: str) -> None:
    result = run_backtest(random_bars(50, seed), np.zeros(50), EngineConfig(fill=fill))  # type: ignore[arg-type]
    assert (result.equity == 10_000.0).all()
    assert result.num_trades == 0
    assert result.metrics["exposure"] == 0.0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    target=targets,
    low=st.floats(0.0, 0.01),
    step=st.floats(1e-5, 0.01),
)
def test_higher_commission_never_raises_final_equity(
    seed: int, target: list[float], low: float, step: float
) -> None:
    bars = random_bars(30, seed)
    cheap = run_backtest(bars, np.array(target), EngineConfig(commission=low))
    dear = run_backtest(bars, np.array(target), EngineConfig(commission=low + step))
    assert dear.final_equity <= cheap.final_equity * (1 + 1e-12)
