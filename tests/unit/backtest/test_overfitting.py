"""Overfitting statistics against plain-Python references and Monte Carlo behaviour under the null."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from app.backtest.overfitting import (
    EULER_GAMMA,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_stats,
)

NORMAL = NormalDist()


def _reference_psr(sharpe: float, n: int, benchmark: float, skew: float, kurt: float) -> float:
    denominator = math.sqrt((1 - skew * sharpe + (kurt - 1) / 4 * sharpe * sharpe) / (n - 1))
    return NORMAL.cdf((sharpe - benchmark) / denominator)


def test_sharpe_stats_match_scipy_moments() -> None:
    rng = np.random.default_rng(7)
    returns = rng.standard_t(df=5, size=2_000) * 0.01 + 0.0004
    got = sharpe_stats(returns)
    assert got.observations == 2_000
    assert got.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-12)
    assert got.skew == pytest.approx(float(scipy_stats.skew(returns)), rel=1e-9)
    assert got.kurtosis == pytest.approx(float(scipy_stats.kurtosis(returns, fisher=False)), rel=1e-9)


def test_sharpe_stats_refuses_flat_or_short_series() -> None:
    with pytest.raises(ValueError, match="do not vary"):
        sharpe_stats(np.full(10, 0.01))
    with pytest.raises(ValueError, match="at least 3"):
        sharpe_stats(np.array([0.01, np.nan, 0.02]))


@given(
    sharpe=st.floats(-0.5, 0.5),
    n=st.integers(10, 5_000),
    benchmark=st.floats(-0.2, 0.2),
    skew=st.floats(-2.0, 2.0),
    kurt=st.floats(1.5, 12.0),
)
@settings(max_examples=200, deadline=None)
def test_psr_matches_reference(sharpe: float, n: int, benchmark: float, skew: float, kurt: float) -> None:
    variance = 1 - skew * sharpe + (kurt - 1) / 4 * sharpe * sharpe
    if variance <= 0:
        with pytest.raises(ValueError, match="variance"):
            probabilistic_sharpe_ratio(sharpe, n, benchmark=benchmark, skew=skew, kurtosis=kurt)
        return
    got = probabilistic_sharpe_ratio(sharpe, n, benchmark=benchmark, skew=skew, kurtosis=kurt)
    assert got == pytest.approx(_reference_psr(sharpe, n, benchmark, skew, kurt), abs=1e-12)


def test_expected_max_sharpe_formula_and_monte_carlo() -> None:
    # Formula by hand for 100 trials of unit variance.
    by_hand = (1 - EULER_GAMMA) * NORMAL.inv_cdf(1 - 1 / 100) + EULER_GAMMA * NORMAL.inv_cdf(
        1 - 1 / (100 * math.e)
    )
    assert expected_max_sharpe(100, 1.0) == pytest.approx(by_hand, rel=1e-12)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * by_hand, rel=1e-12)
    assert expected_max_sharpe(1, 1.0) == 0.0
    # The approximation is close to the simulated mean maximum of 100 standard normals.
    rng = np.random.default_rng(11)
    simulated = rng.standard_normal((20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, 1.0) == pytest.approx(simulated, rel=0.03)
    with pytest.raises(ValueError):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(ValueError):
        expected_max_sharpe(10, float("nan"))


def _best_of_noise(rng: np.random.Generator, periods: int, trials: int, edge: float = 0.0) -> float:
    returns = rng.standard_normal((periods, trials)) * 0.01
    returns[:, 0] += edge * 0.01
    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    best = int(np.argmax(sharpes))
    stats = sharpe_stats(returns[:, best])
    return deflated_sharpe_ratio(
        stats.sharpe,
        stats.observations,
        trials=trials,
        trial_sharpe_variance=float(sharpes.var(ddof=1)),
        skew=stats.skew,
        kurtosis=stats.kurtosis,
    )


def test_deflated_sharpe_rarely_promotes_the_best_of_pure_noise() -> None:
    rng = np.random.default_rng(2024)
    values = np.array([_best_of_noise(rng, 500, 50) for _ in range(300)])
    # Under the null the DSR of the best trial behaves like a p-value: about 5% above 0.95.
    assert float(np.mean(values > 0.95)) < 0.12
    # Without deflation, the best of 50 noise trials looks significant most of the time.
    raw = []
    for _ in range(100):
        returns = rng.standard_normal((500, 50)) * 0.01
        sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
        raw.append(probabilistic_sharpe_ratio(float(sharpes.max()), 500))
    assert float(np.mean(np.array(raw) > 0.95)) > 0.5


def test_deflated_sharpe_recognises_a_real_edge() -> None:
    rng = np.random.default_rng(5)
    assert _best_of_noise(rng, 2_000, 50, edge=0.25) > 0.99


@given(
    sharpe=st.floats(0.02, 0.5),
    benchmark=st.floats(-0.1, 0.0),
    skew=st.floats(-1.0, 1.0),
    kurt=st.floats(2.0, 8.0),
    confidence=st.floats(0.6, 0.99),
)
@settings(max_examples=200, deadline=None)
def test_min_track_record_length_is_where_psr_reaches_the_confidence(
    sharpe: float, benchmark: float, skew: float, kurt: float, confidence: float
) -> None:
    if 1 - skew * sharpe + (kurt - 1) / 4 * sharpe * sharpe <= 0:
        return
    length = min_track_record_length(
        sharpe, benchmark=benchmark, skew=skew, kurtosis=kurt, confidence=confidence
    )
    # PSR uses n - 1 in its denominator: at n = MinTRL exactly, it equals the confidence.
    variance = 1 - skew * sharpe + (kurt - 1) / 4 * sharpe * sharpe
    z = (sharpe - benchmark) / math.sqrt(variance / (length - 1))
    assert NORMAL.cdf(z) == pytest.approx(confidence, abs=1e-9)
    assert min_track_record_length(benchmark, benchmark=benchmark) == math.inf


def test_pbo_is_near_one_half_for_pure_noise() -> None:
    rng = np.random.default_rng(3)
    result = probability_of_backtest_overfitting(rng.standard_normal((1_600, 40)) * 0.01, splits=16)
    assert result.combinations == math.comb(16, 8)
    assert result.logits.shape == (math.comb(16, 8),)
    assert 0.3 < result.probability < 0.7


def test_pbo_is_near_zero_when_one_trial_has_a_real_edge() -> None:
    rng = np.random.default_rng(4)
    returns = rng.standard_normal((1_600, 40)) * 0.01
    returns[:, 7] += 0.004
    result = probability_of_backtest_overfitting(returns, splits=10)
    assert result.probability < 0.05


def test_pbo_matches_a_plain_python_cscv() -> None:
    rng = np.random.default_rng(9)
    returns = rng.standard_normal((120, 6)) * 0.01
    got = probability_of_backtest_overfitting(returns, splits=6)

    from itertools import combinations

    blocks = np.split(returns, 6)
    below = 0
    total = 0
    for chosen in combinations(range(6), 3):
        train = np.concatenate([blocks[i] for i in chosen])
        test = np.concatenate([blocks[i] for i in range(6) if i not in chosen])
        train_sr = [train[:, j].mean() / train[:, j].std(ddof=1) for j in range(6)]
        test_sr = [test[:, j].mean() / test[:, j].std(ddof=1) for j in range(6)]
        best = int(np.argmax(train_sr))
        rank = 1 + sum(1 for value in test_sr if value < test_sr[best])
        omega = rank / 7
        below += math.log(omega / (1 - omega)) <= 0
        total += 1
    assert got.combinations == total
    assert got.probability == pytest.approx(below / total, abs=1e-12)


@pytest.mark.parametrize(
    ("shape", "splits", "message"),
    [((100, 1), 4, "trials"), ((100, 5), 5, "even"), ((100, 5), 22, "even"), ((10, 5), 8, "too few")],
)
def test_pbo_refuses_bad_input(shape: tuple[int, int], splits: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(np.zeros(shape), splits=splits)


def test_pbo_on_a_sample_of_combinations_estimates_the_full_one() -> None:
    rng = np.random.default_rng(12)
    returns = rng.standard_normal((1_200, 30)) * 0.01
    returns[:, 3] += 0.0015
    full = probability_of_backtest_overfitting(returns, splits=12)
    sample = probability_of_backtest_overfitting(returns, splits=12, max_combinations=300)
    again = probability_of_backtest_overfitting(returns, splits=12, max_combinations=300)
    assert full.combinations == math.comb(12, 6)
    assert sample.combinations == 300
    assert sample.probability == again.probability  # seeded
    assert abs(sample.probability - full.probability) < 0.08


def _vectorised_cscv(
    returns: np.ndarray, splits: int, max_combinations: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The former NumPy form of the CSCV (matrix products over a 0/1 membership matrix): the oracle
    the compiled pass must reproduce. Returns the logits and the winners' in/out-of-sample Sharpe."""
    from itertools import combinations

    def block_sharpe(sums: np.ndarray, squares: np.ndarray, counts: float) -> np.ndarray:
        mean = sums / counts
        std = np.sqrt(np.maximum((squares - counts * mean**2) / (counts - 1), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(std > 0.0, mean / std, 0.0))

    periods, trials = returns.shape
    block = periods // splits
    matrix = np.nan_to_num(returns[: block * splits], nan=0.0, posinf=0.0, neginf=0.0)
    blocks = matrix.reshape(splits, block, trials)
    sums = blocks.sum(axis=1)
    squares = (blocks**2).sum(axis=1)
    chosen = np.array(list(combinations(range(splits), splits // 2)), dtype=np.int64)
    if max_combinations is not None and len(chosen) > max_combinations:
        keep = np.sort(np.random.default_rng(seed).choice(len(chosen), size=max_combinations, replace=False))
        chosen = chosen[keep]
    membership = np.zeros((len(chosen), splits))
    membership[np.arange(len(chosen))[:, None], chosen] = 1.0
    counts = float(block * (splits // 2))
    in_sums = membership @ sums
    in_squares = membership @ squares
    in_sharpe = block_sharpe(in_sums, in_squares, counts)
    out_sharpe = block_sharpe(sums.sum(axis=0) - in_sums, squares.sum(axis=0) - in_squares, counts)
    rows = np.arange(len(chosen))
    best = np.argmax(in_sharpe, axis=1)
    chosen_out = out_sharpe[rows, best]
    below = (out_sharpe < chosen_out[:, None]).sum(axis=1)
    ties = (out_sharpe == chosen_out[:, None]).sum(axis=1)
    omega = (below + 0.5 * (ties + 1)) / (trials + 1.0)
    return np.log(omega / (1.0 - omega)), in_sharpe[rows, best], chosen_out


@pytest.mark.parametrize(
    ("periods", "trials", "splits", "max_combinations", "layout"),
    [
        (1_600, 40, 16, None, "C"),
        (2_148, 300, 16, 1_000, "F"),
        (2_148, 300, 16, 1_000, "C"),
        (501, 7, 10, None, "F"),
        (97, 2, 4, None, "C"),
        (1_203, 55, 12, 250, "F"),
    ],
)
def test_pbo_compiled_pass_equals_the_vectorised_form(
    periods: int, trials: int, splits: int, max_combinations: int | None, layout: str
) -> None:
    rng = np.random.default_rng(periods * trials + splits)
    returns = rng.standard_normal((periods, trials)) * 0.01 + rng.normal(0.0, 0.0005, trials)
    returns[:, trials // 2] = returns[:, 0]  # exact ties out of sample
    returns[rng.integers(0, periods, 5), rng.integers(0, trials, 5)] = np.nan
    returns[3, -1] = np.inf
    if layout == "F":  # the sweep passes the transpose of its (sets x bars) matrix
        returns = np.ascontiguousarray(returns.T).T
    logits, best_in, best_out = _vectorised_cscv(returns, splits, max_combinations, seed=0)
    got = probability_of_backtest_overfitting(returns, splits=splits, max_combinations=max_combinations)
    # The ranks, hence the logits and the probability, are the same bit for bit. The Sharpe
    # ratios agree to rounding: NumPy sums a strided block pairwise and BLAS's edge tiles
    # reorder the train-half sums, both at the 1e-17 level, where the compiled pass adds in order.
    assert np.array_equal(got.logits, logits)
    assert got.probability == float(np.mean(logits <= 0.0))
    expected_slope = float(np.polyfit(best_in, best_out, 1)[0])
    assert got.degradation_slope == pytest.approx(expected_slope, rel=1e-12, abs=1e-12)


def test_column_sharpe_matches_numpy() -> None:
    from app.backtest.overfitting import column_sharpe_nb

    rng = np.random.default_rng(21)
    data = rng.standard_normal((50, 700)) * 0.01 + 0.0004
    data[7] = 0.001  # constant: Sharpe 0
    out = np.empty(50)
    column_sharpe_nb(data, out)
    std = data.std(axis=1, ddof=1)
    expected = data.mean(axis=1) / std
    expected[7] = 0.0  # NumPy's std of a constant row is rounding error, not 0
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)
    assert out[7] == 0.0


@pytest.mark.parametrize("rows", [1, 4, 7, 13])
def test_column_sharpe_is_the_two_pass_running_sums_bit_for_bit(rows: int) -> None:
    from app.backtest.overfitting import column_sharpe_nb

    rng = np.random.default_rng(rows)
    data = rng.standard_normal((rows, 301)) * 0.01 + 0.0004
    data[0, :] = 0.002  # constant: Sharpe 0
    out = np.empty(rows)
    column_sharpe_nb(data, out)
    floor = 8.0 * np.finfo(np.float64).eps
    for t in range(rows):
        total = 0.0
        for value in data[t]:
            total += float(value)
        mean = total / 301
        deviation = 0.0
        for value in data[t]:
            deviation += (float(value) - mean) * (float(value) - mean)
        std = math.sqrt(deviation / 300)
        expected = mean / std if std > floor * max(abs(mean), np.finfo(np.float64).tiny) else 0.0
        assert out[t] == expected


@pytest.mark.parametrize("bars", [2, 3, 7, 8, 9, 127, 128, 129, 136, 500, 1_640, 2_148, 9_001, 20_000])
def test_window_sharpe_is_numpys_mean_and_std_bit_for_bit(bars: int) -> None:
    from app.backtest.overfitting import window_sharpe_nb

    rng = np.random.default_rng(bars)
    matrix = rng.normal(0.0003, 0.02, (9, bars + 30))
    matrix[2] = 0.001  # flat: NumPy's std is rounding error, the score is what NumPy gives
    matrix[3] = 0.0  # zero std: score 0
    matrix[4, bars // 2] = np.nan
    matrix[5, 11] = np.inf
    for view in (matrix[:, 10 : 10 + bars].T, np.ascontiguousarray(matrix[:, :bars]).T):
        with np.errstate(invalid="ignore", divide="ignore"):  # the inf row: inf - inf in NumPy's std
            mean = view.mean(axis=0)
            std = view.std(axis=0, ddof=1)
            expected = np.where(std > 0, mean / std * math.sqrt(252.0), 0.0)
        got = np.empty(9)
        window_sharpe_nb(view.T, 0, bars, math.sqrt(252.0), got)
        np.testing.assert_array_equal(got, expected, strict=True)
    # a window by bounds of the C-ordered matrix: the same numbers as the sliced view
    bounded = np.empty(9)
    window_sharpe_nb(matrix, 10, 10 + bars, math.sqrt(252.0), bounded)
    sliced = np.empty(9)
    window_sharpe_nb(matrix[:, 10 : 10 + bars], 0, bars, math.sqrt(252.0), sliced)
    np.testing.assert_array_equal(bounded, sliced, strict=True)


@pytest.mark.parametrize("sets", [1, 3, 4, 9])
def test_window_growth_rows_is_the_last_cumulative_product(sets: int) -> None:
    from app.backtest.overfitting import window_growth_rows_nb

    rng = np.random.default_rng(sets)
    matrix = rng.normal(0.0003, 0.02, (sets, 700))
    matrix[0, 50] = np.nan
    window = matrix[:, 100:600]
    got = np.empty(sets)
    window_growth_rows_nb(window, got)
    with np.errstate(invalid="ignore"):
        expected = np.cumprod(1.0 + window, axis=1)[:, -1]
    np.testing.assert_array_equal(got, expected, strict=True)


def test_pbo_over_columns_is_the_pbo_of_those_columns_in_that_order() -> None:
    rng = np.random.default_rng(7)
    returns = rng.standard_normal((1_203, 30)) * 0.01 + rng.normal(0.0, 0.0005, 30)
    returns[:, 5] = returns[:, 17]  # exact ties: the first of them in the given order wins
    returns[:, 9] = returns[:, 2]
    returns = np.ascontiguousarray(returns.T).T  # the sweep's layout
    columns = rng.permutation(30)[:24]
    columns = np.concatenate([[17, 5, 2, 9], columns[~np.isin(columns, [17, 5, 2, 9])]])
    for splits, sample in ((8, None), (12, 300)):
        expected = probability_of_backtest_overfitting(
            np.ascontiguousarray(returns[:, columns]), splits=splits, max_combinations=sample
        )
        got = probability_of_backtest_overfitting(
            returns, splits=splits, max_combinations=sample, columns=columns
        )
        assert np.array_equal(got.logits, expected.logits)
        assert got.probability == expected.probability
        assert got.degradation_slope == expected.degradation_slope
        assert got.combinations == expected.combinations
    with pytest.raises(ValueError, match="columns must index"):
        probability_of_backtest_overfitting(returns, splits=8, columns=np.array([0, 30]))
    with pytest.raises(ValueError, match=">= 2 trials"):
        probability_of_backtest_overfitting(returns, splits=8, columns=np.array([3]))


def _cscv_block_by_block(
    data: np.ndarray, block: int, chosen: np.ndarray, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compiled pass's former form: every combination's train half summed afresh, in order."""
    from app.backtest.overfitting import _block_stats_nb

    splits = 2 * chosen.shape[1]
    every_sum = np.empty((splits, data.shape[0]))
    every_square = np.empty((splits, data.shape[0]))
    _block_stats_nb(data, block, splits, every_sum, every_square)
    sums = every_sum[:, columns]
    squares = every_square[:, columns]
    total_sums = sums[0].copy()
    total_squares = squares[0].copy()
    for s in range(1, splits):
        total_sums += sums[s]
        total_squares += squares[s]
    counts = float(block * chosen.shape[1])

    def sharpes(total: np.ndarray, square: np.ndarray) -> np.ndarray:
        mean = total / counts
        variance = (square - counts * (mean * mean)) / (counts - 1.0)
        std = np.where(variance > 0.0, np.sqrt(np.maximum(variance, 0.0)), 0.0)
        return np.where(std > 0.0, mean / np.where(std > 0.0, std, 1.0), 0.0)

    omega, best_in, best_out = (np.empty(len(chosen)) for _ in range(3))
    for c, picks in enumerate(chosen):
        in_sum = sums[picks[0]].copy()
        in_square = squares[picks[0]].copy()
        for k in picks[1:]:
            in_sum += sums[k]
            in_square += squares[k]
        in_sharpe = sharpes(in_sum, in_square)
        out_sharpe = sharpes(total_sums - in_sum, total_squares - in_square)
        best = int(np.argmax(in_sharpe))
        chosen_out = out_sharpe[best]
        below = int((out_sharpe < chosen_out).sum())
        ties = int((out_sharpe == chosen_out).sum())
        omega[c] = (below + 0.5 * (ties + 1)) / (len(columns) + 1.0)
        best_in[c] = in_sharpe[best]
        best_out[c] = chosen_out
    return omega, best_in, best_out


@pytest.mark.parametrize(
    ("trials", "splits", "keep"), [(37, 16, 300), (2, 4, None), (101, 10, 60), (9, 2, None)]
)
def test_cscv_reusing_shared_train_blocks_is_bit_identical_to_summing_each_half(
    trials: int, splits: int, keep: int | None
) -> None:
    from itertools import combinations

    from app.backtest.overfitting import _cscv_nb

    rng = np.random.default_rng(trials * splits)
    periods = 40 * splits + 3
    data = rng.standard_normal((trials, periods)) * 0.01 + rng.normal(0.0, 0.001, (trials, 1))
    data[trials // 2] = data[0]  # exact ties
    data[0, 5] = np.nan
    data[-1, :40] = 0.0  # a flat block
    block = periods // splits
    chosen = np.array(list(combinations(range(splits), splits // 2)), dtype=np.int64)
    if keep is not None:
        chosen = np.ascontiguousarray(chosen[np.sort(rng.choice(len(chosen), size=keep, replace=False))])
    columns = np.ascontiguousarray(rng.permutation(trials).astype(np.int64))
    got = tuple(np.empty(len(chosen)) for _ in range(3))
    _cscv_nb(np.ascontiguousarray(data), block, chosen, columns, *got)
    expected = _cscv_block_by_block(data, block, chosen, columns)
    for g, e in zip(got, expected, strict=True):
        assert g.tobytes() == e.tobytes()
