"""Strategies: registry, parameter validation, kernels against pandas, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InputError
from app.strategies import STRATEGIES, get_strategy
from app.strategies.kernels import cross_target_nb, rolling_mean_nb, rolling_std_nb


def make_bars(close: np.ndarray) -> pd.DataFrame:
    index = pd.date_range("2020-01-01", periods=len(close), freq="D", tz="UTC", name="timestamp")
    close = np.asarray(close, dtype=float)
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0}, index=index
    )


def random_walk(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))


def test_registry_names_the_four_strategies() -> None:
    assert set(STRATEGIES) == {"momentum", "mean_reversion", "breakout", "sma_cross"}


def test_get_strategy_uses_defaults_and_converts_strings() -> None:
    strategy = get_strategy("sma_cross", {"fast": "5", "slow": 30.0})
    assert strategy.params() == {"fast": 5, "slow": 30}
    assert get_strategy("momentum", {}).params() == {"lookback": 5, "threshold": 0.0}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "unknown strategy 'nope'"),
        ("sma_cross", {"speed": 3}, "has no parameter 'speed'"),
        ("sma_cross", {"fast": "ten"}, "'fast' must be an integer"),
        ("sma_cross", {"fast": True}, "'fast' must be an integer"),
        ("sma_cross", {"fast": 30, "slow": 20}, "slow must be greater than fast"),
        ("momentum", {"threshold": "x"}, "'threshold' must be a number"),
        ("momentum", {"lookback": 0}, "lookback must be >= 1"),
        ("mean_reversion", {"entry_z": 1.0, "exit_z": 1.5}, "exit_z must be in"),
        ("breakout", {"exit_window": 0}, "exit_window must be >= 1"),
    ],
)
def test_bad_name_or_parameter_raises_input_error_naming_it(name: str, params: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        get_strategy(name, params)


@pytest.mark.parametrize("window", [1, 2, 3, 10, 20, 57])
@pytest.mark.parametrize("seed", [0, 1])
def test_rolling_mean_is_bit_identical_to_pandas(window: int, seed: int) -> None:
    values = random_walk(800, seed)
    values[100:130] = 100.0  # a run of equal values takes pandas' exact path
    out = np.empty_like(values)
    rolling_mean_nb(values, window, out)
    expected = pd.Series(values).rolling(window).mean().to_numpy()
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("window", [2, 5, 20])
def test_rolling_std_matches_pandas(window: int) -> None:
    values = random_walk(500, 3)
    out = np.empty_like(values)
    rolling_std_nb(values, window, out)
    np.testing.assert_allclose(out, pd.Series(values).rolling(window).std().to_numpy(), rtol=1e-10)


def test_cross_side_is_the_state_of_the_bar_and_a_tie_or_nan_is_flat() -> None:
    fast = np.array([np.nan, 1.0, 2.0, 2.0, 3.0, 1.0, 0.5])
    slow = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, np.nan])
    out = np.empty(7)
    cross_target_nb(fast, slow, out)
    # NaN (warm-up): flat; below: short; tie: flat; above: long; below: short; NaN: flat
    np.testing.assert_array_equal(out, [0, -1, 0, 0, 1, -1, 0])


def test_sma_cross_matches_a_pandas_oracle() -> None:
    close = random_walk(600, 5)
    target = get_strategy("sma_cross", {"fast": 7, "slow": 19}).target_positions(make_bars(close))
    fast = pd.Series(close).rolling(7).mean()
    slow = pd.Series(close).rolling(19).mean()
    expected = np.where(fast > slow, 1.0, np.where(fast < slow, -1.0, 0.0))
    np.testing.assert_array_equal(target, expected)
    assert (target[:18] == 0.0).all() and (target[18:] != 0.0).all()


def test_sma_cross_does_not_depend_on_where_the_history_starts() -> None:
    close = random_walk(800, 9)
    strategy = get_strategy("sma_cross", {"fast": 5, "slow": 30})
    full = strategy.target_positions(make_bars(close))
    for cut in (1, 57, 300):
        late = strategy.target_positions(make_bars(close[cut:]))
        # past the warm-up of the shorter history the sides agree bar for bar
        np.testing.assert_array_equal(late[29:], full[cut + 29 :])


def test_momentum_matches_a_pandas_oracle() -> None:
    close = random_walk(300, 7)
    target = get_strategy("momentum", {"lookback": 10, "threshold": 0.02}).target_positions(make_bars(close))
    ret = pd.Series(close).pct_change(10)
    expected = np.where(ret > 0.02, 1.0, np.where(ret < -0.02, -1.0, 0.0))
    np.testing.assert_array_equal(target, expected)


def _breakout_reference(bars: pd.DataFrame, entry: int, exit_: int) -> np.ndarray:
    hi = bars["high"].rolling(entry).max().shift()
    lo = bars["low"].rolling(entry).min().shift()
    ex_hi = bars["high"].rolling(exit_, min_periods=1).max().shift()
    ex_lo = bars["low"].rolling(exit_, min_periods=1).min().shift()
    state, out = 0.0, []
    for i, c in enumerate(bars["close"]):
        if i >= entry:
            if c > hi.iloc[i]:
                state = 1.0
            elif c < lo.iloc[i]:
                state = -1.0
            elif (state > 0 and c < ex_lo.iloc[i]) or (state < 0 and c > ex_hi.iloc[i]):
                state = 0.0
        out.append(state)
    return np.array(out)


def test_breakout_matches_a_pandas_reference() -> None:
    bars = make_bars(random_walk(400, 11))
    target = get_strategy("breakout", {"entry_window": 15, "exit_window": 5}).target_positions(bars)
    np.testing.assert_array_equal(target, _breakout_reference(bars, 15, 5))
    assert set(np.unique(target)) == {-1.0, 0.0, 1.0}


def _mean_reversion_reference(close: np.ndarray, window: int, entry: float, exit_: float) -> np.ndarray:
    s = pd.Series(close)
    z = (s - s.rolling(window).mean()) / s.rolling(window).std()
    state, out = 0.0, []
    for v in z:
        if np.isfinite(v):
            if state == 0 and v < -entry:
                state = 1.0
            elif state == 0 and v > entry:
                state = -1.0
            elif state > 0 and v >= -exit_:
                state = -1.0 if v > entry else 0.0
            elif state < 0 and v <= exit_:
                state = 1.0 if v < -entry else 0.0
        out.append(state)
    return np.array(out)


def test_mean_reversion_matches_a_pandas_reference() -> None:
    close = random_walk(500, 13)
    strategy = get_strategy("mean_reversion", {"window": 12, "entry_z": 1.2, "exit_z": 0.2})
    np.testing.assert_array_equal(
        strategy.target_positions(make_bars(close)), _mean_reversion_reference(close, 12, 1.2, 0.2)
    )


def test_missing_column_is_an_input_error() -> None:
    bars = make_bars(random_walk(50)).drop(columns=["high"])
    with pytest.raises(InputError, match="'high'"):
        get_strategy("breakout", {}).target_positions(bars)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(STRATEGIES)),
    cut=st.integers(min_value=1, max_value=119),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_no_look_ahead_perturbing_later_bars_changes_nothing_before(name: str, cut: int, seed: int) -> None:
    params = {"sma_cross": {"fast": 3, "slow": 8}}.get(name, {})
    bars = make_bars(random_walk(120, seed))
    before = get_strategy(name, params).target_positions(bars)
    changed = bars.copy()
    rng = np.random.default_rng(seed + 1)
    factor = np.exp(rng.normal(0, 0.1, len(bars) - cut))
    for column in ("open", "high", "low", "close"):
        changed.iloc[cut:, changed.columns.get_loc(column)] *= factor
    after = get_strategy(name, params).target_positions(changed)
    np.testing.assert_array_equal(before[:cut], after[:cut])


@pytest.mark.parametrize(("fast", "slow"), [(1, 2), (2, 3), (5, 13), (10, 20), (30, 31)])
def test_fused_sma_cross_kernel_equals_the_two_step_version(fast: int, slow: int) -> None:
    from app.strategies.kernels import sma_cross_target_nb

    close = random_walk(700, fast * 100 + slow)
    close[200:240] = close[199]  # flat stretch: exact ties and the equal-values path
    close[300] = np.nan
    fast_ma, slow_ma, target = np.empty_like(close), np.empty_like(close), np.empty_like(close)
    sma_cross_target_nb(close, fast, slow, fast_ma, slow_ma, target)
    ref_fast, ref_slow, ref = np.empty_like(close), np.empty_like(close), np.empty_like(close)
    rolling_mean_nb(close, fast, ref_fast)
    rolling_mean_nb(close, slow, ref_slow)
    cross_target_nb(ref_fast, ref_slow, ref)
    np.testing.assert_array_equal(fast_ma, ref_fast)
    np.testing.assert_array_equal(slow_ma, ref_slow)
    np.testing.assert_array_equal(target, ref)
