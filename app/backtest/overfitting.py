"""Statistics that tell a real edge from the luckiest of many trials.

A sweep tries many parameter sets and keeps the best. The best in-sample Sharpe ratio of
``N`` trials is biased upwards even when no set has an edge; these functions measure how
much of it survives.

Conventions
-----------
* Sharpe ratios are **per period** (not annualised) unless a name says otherwise: the mean
  of the period returns divided by their standard deviation (``ddof=1``).
* ``kurtosis`` is the plain (non-excess) fourth standardised moment: 3 for a normal law.
* References: Bailey and López de Prado, "The Sharpe Ratio Efficient Frontier" (2012) for the
  probabilistic Sharpe ratio and the minimum track record length; "The Deflated Sharpe
  Ratio" (2014) for the expected maximum Sharpe ratio of ``N`` trials and the DSR; Bailey,
  Borwein, López de Prado and Zhu, "The Probability of Backtest Overfitting" (2015) for
  combinatorially symmetric cross-validation (CSCV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist

import numpy as np
from numba import njit

__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "SharpeStats",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "sharpe_stats",
]

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()
MAX_CSCV_SPLITS = 20
"""C(20, 10) = 184,756 combinations: the largest CSCV this module computes."""


@dataclass(frozen=True, slots=True)
class SharpeStats:
    """The moments of one return series that the Sharpe statistics need."""

    sharpe: float
    observations: int
    skew: float
    kurtosis: float


def sharpe_stats(returns: np.ndarray) -> SharpeStats:
    """Per-period Sharpe ratio, skew and (non-excess) kurtosis of ``returns``.

    Raises
    ------
    ValueError
        With fewer than three finite returns, or when the returns do not vary.
    """
    values = np.asarray(returns, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n < 3:
        raise ValueError(f"need at least 3 finite returns, got {n}")
    mean = float(values.mean())
    std = float(values.std(ddof=1))
    # A constant series has a rounding-error standard deviation, not zero: compare to the mean.
    if not std > 8.0 * np.finfo(np.float64).eps * max(abs(mean), np.finfo(np.float64).tiny):
        raise ValueError("returns do not vary: the Sharpe ratio is undefined")
    centred = values - mean
    m2 = float(np.mean(centred**2))
    skew = float(np.mean(centred**3)) / m2**1.5
    kurtosis = float(np.mean(centred**4)) / m2**2
    return SharpeStats(sharpe=mean / std, observations=n, skew=skew, kurtosis=kurtosis)


def _sharpe_std(sharpe: float, observations: int, skew: float, kurtosis: float) -> float:
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if observations < 2:
        raise ValueError("need at least 2 observations")
    if not variance > 0.0:
        raise ValueError(
            f"the Sharpe ratio's variance is not positive (sharpe={sharpe}, skew={skew}, kurtosis={kurtosis})"
        )
    return math.sqrt(variance / (observations - 1))


def probabilistic_sharpe_ratio(
    sharpe: float,
    observations: int,
    *,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """Probability that the true per-period Sharpe ratio exceeds ``benchmark``.

    Accounts for the sample length and for non-normal returns (skew, fat tails).
    """
    return _NORMAL.cdf((sharpe - benchmark) / _sharpe_std(sharpe, observations, skew, kurtosis))


def expected_max_sharpe(trials: int, sharpe_variance: float, *, mean: float = 0.0) -> float:
    """Expected maximum Sharpe ratio of ``trials`` independent trials with no edge.

    ``sharpe_variance`` is the variance of the trials' Sharpe ratios (same units as the
    result: per period in, per period out).
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if sharpe_variance < 0.0 or not math.isfinite(sharpe_variance):
        raise ValueError(f"sharpe_variance must be finite and >= 0, got {sharpe_variance}")
    if trials == 1:
        return mean
    first = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return mean + math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * first + EULER_GAMMA * second)


def deflated_sharpe_ratio(
    sharpe: float,
    observations: int,
    *,
    trials: int,
    trial_sharpe_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """Probability that the best of ``trials`` has a true Sharpe ratio above zero.

    The probabilistic Sharpe ratio against the expected maximum of ``trials`` no-edge
    trials (the deflated Sharpe ratio, DSR). A value above 0.95 is the usual bar.
    """
    benchmark = expected_max_sharpe(trials, trial_sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, observations, benchmark=benchmark, skew=skew, kurtosis=kurtosis)


def min_track_record_length(
    sharpe: float,
    *,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    confidence: float = 0.95,
) -> float:
    """Observations needed before ``sharpe`` beats ``benchmark`` at ``confidence``.

    Returns ``inf`` when the Sharpe ratio does not exceed the benchmark.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if sharpe <= benchmark:
        return math.inf
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    z = _NORMAL.inv_cdf(confidence)
    return 1.0 + variance * (z / (sharpe - benchmark)) ** 2


@dataclass(frozen=True, slots=True)
class PBOResult:
    """The outcome of combinatorially symmetric cross-validation."""

    probability: float
    """Share of train/test splits whose in-sample best ranks below the median out of sample."""
    logits: np.ndarray
    """Per split: logit of the in-sample best's relative out-of-sample rank."""
    splits: int
    combinations: int
    degradation_slope: float
    """Slope of out-of-sample on in-sample Sharpe of the chosen set (negative: overfit)."""


@njit(cache=True)
def _finite_or_zero_nb(value: float) -> float:  # pragma: no cover - compiled
    return value if np.isfinite(value) else 0.0


@njit(cache=True)
def _block_stats_nb(
    data: np.ndarray, block: int, splits: int, sums: np.ndarray, squares: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Per block and trial: the sum and the sum of squares of its returns (NaN and inf read as 0).

    ``data`` is (trials x periods); ``sums`` and ``squares`` are (splits x trials), so the
    combination pass reads one block's statistics of every trial as one contiguous row. Each
    block is summed in row order from its first value, as NumPy reduces the block axis; four
    trials are summed side by side (independent running sums overlap), each in that order.
    """
    trials = data.shape[0]
    full = trials - trials % 4
    for t in range(0, full, 4):
        r0 = data[t]
        r1 = data[t + 1]
        r2 = data[t + 2]
        r3 = data[t + 3]
        for s in range(splits):
            start = s * block
            v0 = _finite_or_zero_nb(r0[start])
            v1 = _finite_or_zero_nb(r1[start])
            v2 = _finite_or_zero_nb(r2[start])
            v3 = _finite_or_zero_nb(r3[start])
            a0, a1, a2, a3 = v0, v1, v2, v3
            q0, q1, q2, q3 = v0 * v0, v1 * v1, v2 * v2, v3 * v3
            for r in range(start + 1, start + block):
                v0 = _finite_or_zero_nb(r0[r])
                v1 = _finite_or_zero_nb(r1[r])
                v2 = _finite_or_zero_nb(r2[r])
                v3 = _finite_or_zero_nb(r3[r])
                a0 += v0
                a1 += v1
                a2 += v2
                a3 += v3
                q0 += v0 * v0
                q1 += v1 * v1
                q2 += v2 * v2
                q3 += v3 * v3
            sums[s, t] = a0
            sums[s, t + 1] = a1
            sums[s, t + 2] = a2
            sums[s, t + 3] = a3
            squares[s, t] = q0
            squares[s, t + 1] = q1
            squares[s, t + 2] = q2
            squares[s, t + 3] = q3
    for t in range(full, trials):
        row = data[t]
        for s in range(splits):
            start = s * block
            value = _finite_or_zero_nb(row[start])
            acc = value
            acc2 = value * value
            for r in range(start + 1, start + block):
                value = _finite_or_zero_nb(row[r])
                acc += value
                acc2 += value * value
            sums[s, t] = acc
            squares[s, t] = acc2


@njit(cache=True)
def _cscv_nb(
    data: np.ndarray,
    block: int,
    chosen: np.ndarray,
    columns: np.ndarray,
    omega: np.ndarray,
    best_in: np.ndarray,
    best_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """CSCV in one pass over the returns, then one pass per train/test combination.

    ``data`` is (trials x periods) with at least ``block * splits`` periods; ``chosen`` holds,
    per combination, the in-sample blocks in increasing order. Writes per combination the
    in-sample winner's relative out-of-sample rank ``omega`` in (0, 1) and its in- and
    out-of-sample Sharpe ratios. The arithmetic is the vectorised form's, step for step (a
    train half summed block by block in increasing order, the test half as the total minus it).

    Every loop of a combination runs over the trials with the block statistics laid out
    (splits x trials), so each step is one contiguous (SIMD) pass; the per-trial arithmetic
    and its order are the same as adding a trial's blocks one after the other.
    """
    splits = 2 * chosen.shape[1]
    half = chosen.shape[1]
    every_sum = np.empty((splits, data.shape[0]))
    every_square = np.empty((splits, data.shape[0]))
    _block_stats_nb(data, block, splits, every_sum, every_square)
    # the trials are rows ``columns`` of ``data`` in that order (each trial's statistics are its
    # own, so reading them in this order is the same as a matrix of those rows in this order)
    trials = columns.shape[0]
    sums = np.empty((splits, trials))
    squares = np.empty((splits, trials))
    for s in range(splits):
        for t in range(trials):
            sums[s, t] = every_sum[s, columns[t]]
            squares[s, t] = every_square[s, columns[t]]
    total_sums = sums[0].copy()
    total_squares = squares[0].copy()
    for s in range(1, splits):
        srow = sums[s]
        qrow = squares[s]
        for t in range(trials):
            total_sums[t] += srow[t]
            total_squares[t] += qrow[t]
    counts = float(block * half)
    inv = counts - 1.0
    # running sums of the train blocks, one row per prefix of the picks: consecutive
    # combinations (increasing order) share their first picks, so only the rest are added
    prefix_sum = np.empty((half, trials))
    prefix_square = np.empty((half, trials))
    previous = np.full(half, -1, dtype=np.int64)
    in_sharpe = np.empty(trials)
    out_sharpe = np.empty(trials)
    for c in range(chosen.shape[0]):
        picks = chosen[c]
        shared = 0
        while shared < half and picks[shared] == previous[shared]:
            shared += 1
        for k in range(shared, half):
            previous[k] = picks[k]
            srow = sums[picks[k]]
            qrow = squares[picks[k]]
            psum = prefix_sum[k]
            psquare = prefix_square[k]
            if k == 0:
                for t in range(trials):
                    psum[t] = srow[t]
                    psquare[t] = qrow[t]
            else:
                before_s = prefix_sum[k - 1]
                before_q = prefix_square[k - 1]
                for t in range(trials):
                    psum[t] = before_s[t] + srow[t]
                    psquare[t] = before_q[t] + qrow[t]
        in_sum = prefix_sum[half - 1]
        in_square = prefix_square[half - 1]
        # per trial: the train and test Sharpe ratios of ``counts`` returns from their sum and
        # sum of squares (0 when the variance is not positive: a flat half)
        for t in range(trials):
            mean = in_sum[t] / counts
            variance = (in_square[t] - counts * (mean * mean)) / inv
            std = np.sqrt(variance) if variance > 0.0 else 0.0
            in_sharpe[t] = mean / std if std > 0.0 else 0.0
            test_sum = total_sums[t] - in_sum[t]
            test_square = total_squares[t] - in_square[t]
            mean = test_sum / counts
            variance = (test_square - counts * (mean * mean)) / inv
            std = np.sqrt(variance) if variance > 0.0 else 0.0
            out_sharpe[t] = mean / std if std > 0.0 else 0.0
        best = np.argmax(in_sharpe)
        chosen_out = out_sharpe[best]
        below = 0
        ties = 0
        for t in range(trials):
            value = out_sharpe[t]
            below += 1 if value < chosen_out else 0
            ties += 1 if value == chosen_out else 0
        omega[c] = (below + 0.5 * (ties + 1)) / (trials + 1.0)
        best_in[c] = in_sharpe[best]
        best_out[c] = chosen_out


def probability_of_backtest_overfitting(
    returns: np.ndarray,
    *,
    splits: int = 16,
    max_combinations: int | None = None,
    seed: int = 0,
    columns: np.ndarray | None = None,
) -> PBOResult:
    """The probability of backtest overfitting of a set of trials, by CSCV.

    ``returns`` is a (periods x trials) matrix of per-period returns, one column per
    parameter set, on the same dates. The rows are cut into ``splits`` contiguous blocks;
    every half of the blocks serves once as in-sample and its complement as out-of-sample.
    With ``max_combinations``, a uniform random subset of that many train/test combinations
    (fixed ``seed``) is used: the probability is a mean over combinations, so the subset
    estimates it without bias, at a cost proportional to its size. Non-finite returns count
    as 0. The work is one compiled pass (:func:`_cscv_nb`); a (trials x periods) C-ordered
    matrix, such as the transpose of the sweep's (sets x bars) returns, is read without a copy.
    ``columns``, when given, names the trials: those columns of ``returns`` in that order (the
    result is the one of ``returns[:, columns]``, without copying the matrix).

    Raises
    ------
    ValueError
        On a matrix with fewer than two trials, an odd or out-of-range ``splits``, or fewer
        than two rows per block.
    """
    matrix = np.asarray(returns)
    if matrix.ndim != 2:
        raise ValueError(f"returns must be a (periods x trials) matrix, got {matrix.shape}")
    picked = np.arange(matrix.shape[1], dtype=np.int64) if columns is None else np.asarray(columns, np.int64)
    if picked.ndim != 1 or picked.size < 2:
        raise ValueError(f"returns must be a (periods x trials) matrix with >= 2 trials, got {matrix.shape}")
    if picked.min() < 0 or picked.max() >= matrix.shape[1]:
        raise ValueError(f"columns must index the {matrix.shape[1]} columns of returns")
    if splits % 2 or not 2 <= splits <= MAX_CSCV_SPLITS:
        raise ValueError(f"splits must be even and in [2, {MAX_CSCV_SPLITS}], got {splits}")
    periods = matrix.shape[0]
    block = periods // splits
    if block < 2:
        raise ValueError(f"{periods} periods are too few for {splits} splits (need >= 2 per block)")
    if max_combinations is not None and max_combinations < 1:
        raise ValueError(f"max_combinations must be >= 1, got {max_combinations}")
    # (trials x periods), C-ordered and writable: one compiled signature for every caller
    data = np.require(matrix.T, dtype=np.float64, requirements=["C", "W"])

    chosen = np.array(list(combinations(range(splits), splits // 2)), dtype=np.int64)
    if max_combinations is not None and len(chosen) > max_combinations:
        keep = np.sort(np.random.default_rng(seed).choice(len(chosen), size=max_combinations, replace=False))
        chosen = np.ascontiguousarray(chosen[keep])
    omega = np.empty(len(chosen))
    best_in = np.empty(len(chosen))
    best_out = np.empty(len(chosen))
    _cscv_nb(data, block, chosen, np.ascontiguousarray(picked), omega, best_in, best_out)
    logits = np.log(omega / (1.0 - omega))
    slope = float(np.polyfit(best_in, best_out, 1)[0]) if len(chosen) > 1 else 0.0
    return PBOResult(
        probability=float(np.mean(logits <= 0.0)),
        logits=logits,
        splits=splits,
        combinations=len(chosen),
        degradation_slope=slope,
    )


@njit(cache=True)
def _sharpe_from_nb(
    total: float, deviation: float, n: int, floor: float, tiny: float
) -> float:  # pragma: no cover - compiled
    mean = total / n
    std = np.sqrt(deviation / (n - 1)) if n > 1 else 0.0
    return mean / std if std > floor * max(abs(mean), tiny) else 0.0


@njit(cache=True)
def column_sharpe_nb(data: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Per row of ``data`` (trials x periods): the per-period Sharpe ratio (``ddof=1``; 0 if flat).

    Two passes per row (mean, then squared deviations), each a running sum in period order;
    four rows are carried side by side (their sums overlap), each summed in that order. A row
    is flat when its standard deviation is rounding error next to its mean (the test
    :func:`sharpe_stats` applies).
    """
    floor = 8.0 * np.finfo(np.float64).eps
    tiny = np.finfo(np.float64).tiny
    n = data.shape[1]
    rows = data.shape[0]
    full = rows - rows % 4
    for t in range(0, full, 4):
        r0 = data[t]
        r1 = data[t + 1]
        r2 = data[t + 2]
        r3 = data[t + 3]
        a0 = a1 = a2 = a3 = 0.0
        for r in range(n):
            a0 += r0[r]
            a1 += r1[r]
            a2 += r2[r]
            a3 += r3[r]
        m0, m1, m2, m3 = a0 / n, a1 / n, a2 / n, a3 / n
        d0 = d1 = d2 = d3 = 0.0
        for r in range(n):
            e0 = r0[r] - m0
            e1 = r1[r] - m1
            e2 = r2[r] - m2
            e3 = r3[r] - m3
            d0 += e0 * e0
            d1 += e1 * e1
            d2 += e2 * e2
            d3 += e3 * e3
        out[t] = _sharpe_from_nb(a0, d0, n, floor, tiny)
        out[t + 1] = _sharpe_from_nb(a1, d1, n, floor, tiny)
        out[t + 2] = _sharpe_from_nb(a2, d2, n, floor, tiny)
        out[t + 3] = _sharpe_from_nb(a3, d3, n, floor, tiny)
    for t in range(full, rows):
        row = data[t]
        total = 0.0
        for r in range(n):
            total += row[r]
        mean = total / n
        deviation = 0.0
        for r in range(n):
            d = row[r] - mean
            deviation += d * d
        out[t] = _sharpe_from_nb(total, deviation, n, floor, tiny)


_PAIRWISE_BLOCK = 128


@njit(cache=True)
def _pairwise_sum_nb(
    row: np.ndarray, lo: int, n: int, centre: float, square: bool
) -> float:  # pragma: no cover - compiled
    """NumPy's pairwise sum of ``row[lo:lo + n]`` (of ``(x - centre) ** 2`` when ``square``).

    The same additions in the same order as ``numpy.add.reduce`` over a contiguous axis:
    below 8 values one running sum; up to 128 eight running sums combined as a tree, then the
    rest; above that the two halves (cut at a multiple of 8) summed the same way and added,
    left + right. So a mean or a variance computed from it is NumPy's to the last bit, without
    the temporaries. The halving is walked with an explicit stack (no recursion).
    """
    if n <= _PAIRWISE_BLOCK:
        return _pairwise_leaf_nb(row, lo, n, centre, square)
    starts = np.empty(64, dtype=np.int64)
    sizes = np.empty(64, dtype=np.int64)
    states = np.zeros(64, dtype=np.int64)  # 0: not split yet, 1: left half pending, 2: left done
    lefts = np.empty(64)
    top = 0
    starts[0] = lo
    sizes[0] = n
    while True:
        size = sizes[top]
        if size > _PAIRWISE_BLOCK:
            half = size // 2
            half -= half % 8
            states[top] = 1
            top += 1
            starts[top] = starts[top - 1]
            sizes[top] = half
            states[top] = 0
            continue
        value = _pairwise_leaf_nb(row, starts[top], size, centre, square)
        top -= 1
        while top >= 0 and states[top] == 2:
            value = lefts[top] + value
            top -= 1
        if top < 0:
            return value
        lefts[top] = value
        states[top] = 2
        half = sizes[top] // 2
        half -= half % 8
        top += 1
        starts[top] = starts[top - 1] + half
        sizes[top] = sizes[top - 1] - half
        states[top] = 0


@njit(cache=True)
def _pairwise_leaf_nb(
    row: np.ndarray, lo: int, n: int, centre: float, square: bool
) -> float:  # pragma: no cover - compiled
    """One leaf of :func:`_pairwise_sum_nb` (``n <= 128``)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            v = row[i] - centre if square else row[i]
            res += v * v if square else v
        return res
    if square:
        v0 = row[lo] - centre
        v1 = row[lo + 1] - centre
        v2 = row[lo + 2] - centre
        v3 = row[lo + 3] - centre
        v4 = row[lo + 4] - centre
        v5 = row[lo + 5] - centre
        v6 = row[lo + 6] - centre
        v7 = row[lo + 7] - centre
        r0, r1, r2, r3 = v0 * v0, v1 * v1, v2 * v2, v3 * v3
        r4, r5, r6, r7 = v4 * v4, v5 * v5, v6 * v6, v7 * v7
    else:
        r0, r1, r2, r3 = row[lo], row[lo + 1], row[lo + 2], row[lo + 3]
        r4, r5, r6, r7 = row[lo + 4], row[lo + 5], row[lo + 6], row[lo + 7]
    stop = lo + n - n % 8
    i = lo + 8
    if square:
        while i < stop:
            v0 = row[i] - centre
            v1 = row[i + 1] - centre
            v2 = row[i + 2] - centre
            v3 = row[i + 3] - centre
            v4 = row[i + 4] - centre
            v5 = row[i + 5] - centre
            v6 = row[i + 6] - centre
            v7 = row[i + 7] - centre
            r0 += v0 * v0
            r1 += v1 * v1
            r2 += v2 * v2
            r3 += v3 * v3
            r4 += v4 * v4
            r5 += v5 * v5
            r6 += v6 * v6
            r7 += v7 * v7
            i += 8
    else:
        while i < stop:
            r0 += row[i]
            r1 += row[i + 1]
            r2 += row[i + 2]
            r3 += row[i + 3]
            r4 += row[i + 4]
            r5 += row[i + 5]
            r6 += row[i + 6]
            r7 += row[i + 7]
            i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        v = row[i] - centre if square else row[i]
        res += v * v if square else v
        i += 1
    return float(res)


@njit(cache=True)
def window_sharpe_nb(
    data: np.ndarray, lo: int, hi: int, annualise: float, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Per row of ``data[:, lo:hi]`` (sets x bars, bars contiguous): the annualised Sharpe ratio.

    ``mean / std(ddof=1) * annualise`` where the standard deviation is positive, else 0, with
    NumPy's ``mean`` and ``std`` arithmetic (``0 + pairwise sum``, then the squared deviations
    from the mean summed the same way), bit for bit; the window needs at least 2 bars. A window
    given by ``lo`` / ``hi`` of a C-ordered matrix is read faster than a sliced view of it.
    """
    n = hi - lo
    for s in range(data.shape[0]):
        row = data[s]
        mean = (0.0 + _pairwise_sum_nb(row, lo, n, 0.0, False)) / n
        variance = (0.0 + _pairwise_sum_nb(row, lo, n, mean, True)) / (n - 1)
        std = np.sqrt(variance)
        out[s] = mean / std * annualise if std > 0.0 else 0.0


_ROWS = 4  # sets advanced together: independent products hide the multiplication's latency


@njit(cache=True)
def window_growth_rows_nb(data: np.ndarray, growth: np.ndarray) -> None:  # pragma: no cover - compiled
    """Per row of ``data`` (sets x bars): the running product of ``1 + r`` in bar order.

    Four rows are carried together; each row's product is the same multiplications in the
    same order as one row at a time (``numpy.cumprod``'s last value), bit for bit.
    """
    sets = data.shape[0]
    bars = data.shape[1]
    full = sets - sets % _ROWS
    for s in range(0, full, _ROWS):
        g0 = 1.0
        g1 = 1.0
        g2 = 1.0
        g3 = 1.0
        for t in range(bars):
            g0 = g0 * (1.0 + data[s, t])
            g1 = g1 * (1.0 + data[s + 1, t])
            g2 = g2 * (1.0 + data[s + 2, t])
            g3 = g3 * (1.0 + data[s + 3, t])
        growth[s] = g0
        growth[s + 1] = g1
        growth[s + 2] = g2
        growth[s + 3] = g3
    for s in range(full, sets):
        g = 1.0
        for t in range(bars):
            g = g * (1.0 + data[s, t])
        growth[s] = g
