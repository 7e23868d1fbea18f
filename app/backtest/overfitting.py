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


def _block_sharpe(sums: np.ndarray, squares: np.ndarray, counts: float) -> np.ndarray:
    mean = sums / counts
    variance = (squares - counts * mean**2) / (counts - 1)
    std = np.sqrt(np.maximum(variance, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(std > 0.0, mean / std, 0.0)
    return np.asarray(out)


def probability_of_backtest_overfitting(returns: np.ndarray, *, splits: int = 16) -> PBOResult:
    """The probability of backtest overfitting of a set of trials, by CSCV.

    ``returns`` is a (periods x trials) matrix of per-period returns, one column per
    parameter set, on the same dates. The rows are cut into ``splits`` contiguous blocks;
    every half of the blocks serves once as in-sample and its complement as out-of-sample.

    Raises
    ------
    ValueError
        On a matrix with fewer than two trials, an odd or out-of-range ``splits``, or fewer
        than two rows per block.
    """
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValueError(f"returns must be a (periods x trials) matrix with >= 2 trials, got {matrix.shape}")
    if splits % 2 or not 2 <= splits <= MAX_CSCV_SPLITS:
        raise ValueError(f"splits must be even and in [2, {MAX_CSCV_SPLITS}], got {splits}")
    periods, trials = matrix.shape
    block = periods // splits
    if block < 2:
        raise ValueError(f"{periods} periods are too few for {splits} splits (need >= 2 per block)")
    matrix = np.nan_to_num(matrix[: block * splits], nan=0.0, posinf=0.0, neginf=0.0)
    blocks = matrix.reshape(splits, block, trials)
    sums = blocks.sum(axis=1)
    squares = (blocks**2).sum(axis=1)

    chosen = np.array(list(combinations(range(splits), splits // 2)), dtype=np.int64)
    membership = np.zeros((len(chosen), splits), dtype=np.float64)
    membership[np.arange(len(chosen))[:, None], chosen] = 1.0
    counts = float(block * (splits // 2))
    total_sums = sums.sum(axis=0)
    total_squares = squares.sum(axis=0)
    logits = np.empty(len(chosen))
    best_in = np.empty(len(chosen))
    best_out = np.empty(len(chosen))
    # Chunks of combinations keep the (combinations x trials) work arrays in cache.
    step = max(1, 2_000_000 // trials)
    for start in range(0, len(chosen), step):
        part = membership[start : start + step]
        in_sums = part @ sums
        in_squares = part @ squares
        in_sharpe = _block_sharpe(in_sums, in_squares, counts)
        out_sharpe = _block_sharpe(total_sums - in_sums, total_squares - in_squares, counts)
        best = np.argmax(in_sharpe, axis=1)
        rows = np.arange(part.shape[0])
        chosen_out = out_sharpe[rows, best]
        # Relative rank of the in-sample winner among the out-of-sample results, in (0, 1).
        below = (out_sharpe < chosen_out[:, None]).sum(axis=1)
        ties = (out_sharpe == chosen_out[:, None]).sum(axis=1)
        omega = (below + 0.5 * (ties + 1)) / (trials + 1.0)
        logits[start : start + step] = np.log(omega / (1.0 - omega))
        best_in[start : start + step] = in_sharpe[rows, best]
        best_out[start : start + step] = chosen_out
    slope = float(np.polyfit(best_in, best_out, 1)[0]) if len(chosen) > 1 else 0.0
    return PBOResult(
        probability=float(np.mean(logits <= 0.0)),
        logits=logits,
        splits=splits,
        combinations=len(chosen),
        degradation_slope=slope,
    )
