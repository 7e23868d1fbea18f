"""Priors: a win probability ``p`` and a payoff ratio ``b`` for each bar's position.

Model
-----
The outcome of holding side ``d`` (+1 long, -1 short) from bar ``s``'s close to bar
``s+1``'s close is ``y = d x (close[s+1] / close[s] - 1)``. Outcomes are grouped in
buckets by the regime at bar ``s`` and the side. For bar ``t``, only outcomes already
complete strictly before ``t`` count (``s + 1 <= t - 1``), so nothing of bar ``t`` itself,
let alone later bars, enters ``p[t]`` or ``b[t]``.

* ``p`` is the posterior mean of a Beta(``alpha``, ``beta``) prior updated with the
  bucket's wins (``y > 0``) and losses (``y < 0``): ``(alpha + wins) / (alpha + beta +
  wins + losses)``. With no history it is ``alpha / (alpha + beta)`` (0.5 by default).
* ``b`` is the ratio of the bucket's average win to its average loss, each shrunk towards
  the average absolute one-bar move of all earlier bars with ``payoff_strength``
  pseudo-observations. With no history both averages equal that scale and ``b = 1``.

The bucket of a flat bar is the long side, so ``p`` and ``b`` are always defined.

Assumptions: outcomes within a bucket are exchangeable (the hit rate of a side in a regime
does not drift within the sample), the decision horizon is one bar, and the regime label
is known at the bar's close. All history counts equally; the Beta prior keeps ``p`` near
0.5 until a bucket has seen tens of outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from app.errors import InputError

__all__ = ["PriorConfig", "PriorEstimate", "beta_priors_nb", "estimate_posterior", "estimate_priors"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorConfig:
    """Parameters of the priors model.

    Attributes:
        alpha: Beta prior pseudo-wins (> 0).
        beta: Beta prior pseudo-losses (> 0).
        payoff_strength: pseudo-observations pulling the average win and loss towards the
            average absolute move (>= 0).
    """

    alpha: float = 2.0
    beta: float = 2.0
    payoff_strength: float = 5.0

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > 0):
            raise InputError(f"prior alpha and beta must be above 0, got {self.alpha}, {self.beta}")
        if not self.payoff_strength >= 0:
            raise InputError(f"prior payoff_strength must be >= 0, got {self.payoff_strength}")


@njit(cache=True)
def beta_priors_nb(
    close: np.ndarray,
    side: np.ndarray,
    regime_idx: np.ndarray,
    n_regimes: int,
    alpha: float,
    beta: float,
    payoff_strength: float,
    p_out: np.ndarray,
    b_out: np.ndarray,
    n_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Fill ``p_out``, ``b_out`` and the posterior concentration ``n_out`` per bar.

    ``n_out[t] = alpha + beta + wins + losses`` of bar ``t``'s bucket, so the posterior of
    the win probability is Beta(``p x n``, ``(1 - p) x n``) (see the module docstring).

    ``side`` holds -1/0/+1 per bar, ``regime_idx`` dense bucket indices in ``[0, n_regimes)``.
    """
    n = close.shape[0]
    wins = np.zeros((n_regimes, 2))
    losses = np.zeros((n_regimes, 2))
    sum_win = np.zeros((n_regimes, 2))
    sum_loss = np.zeros((n_regimes, 2))
    total_abs = 0.0
    n_abs = 0
    for t in range(n):
        s = t - 2
        if s >= 0:
            r = close[s + 1] / close[s] - 1.0
            if np.isfinite(r):
                total_abs += abs(r)
                n_abs += 1
                d = side[s]
                if d != 0.0:
                    y = r if d > 0.0 else -r
                    k = regime_idx[s]
                    slot = 0 if d > 0.0 else 1
                    if y > 0.0:
                        wins[k, slot] += 1.0
                        sum_win[k, slot] += y
                    elif y < 0.0:
                        losses[k, slot] += 1.0
                        sum_loss[k, slot] -= y
        k = regime_idx[t]
        slot = 1 if side[t] < 0.0 else 0
        w = wins[k, slot]
        lo = losses[k, slot]
        p_out[t] = (alpha + w) / (alpha + beta + w + lo)
        n_out[t] = alpha + beta + w + lo
        if n_abs == 0:
            b_out[t] = 1.0
        else:
            scale = total_abs / n_abs
            avg_win = (
                (payoff_strength * scale + sum_win[k, slot]) / (payoff_strength + w)
                if (payoff_strength + w) > 0.0
                else scale
            )
            avg_loss = (
                (payoff_strength * scale + sum_loss[k, slot]) / (payoff_strength + lo)
                if (payoff_strength + lo) > 0.0
                else scale
            )
            b_out[t] = avg_win / avg_loss if avg_loss > 0.0 else 1.0


@dataclass(frozen=True, slots=True)
class PriorEstimate:
    """Per-bar priors: win probability ``p``, payoff ratio ``b`` and the Beta posterior's
    concentration ``n`` (``p``'s posterior is Beta(``p x n``, ``(1 - p) x n``))."""

    p: np.ndarray
    b: np.ndarray
    concentration: np.ndarray


def estimate_priors(
    close: np.ndarray,
    side: np.ndarray,
    regime_codes: np.ndarray | None = None,
    config: PriorConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(p, b)`` arrays, one value per bar, from data strictly before each bar.

    See :func:`estimate_posterior` for the parameters.
    """
    estimate = estimate_posterior(close, side, regime_codes, config)
    return estimate.p, estimate.b


def estimate_posterior(
    close: np.ndarray,
    side: np.ndarray,
    regime_codes: np.ndarray | None = None,
    config: PriorConfig | None = None,
) -> PriorEstimate:
    """Return ``p``, ``b`` and ``p``'s posterior concentration per bar, from data strictly before each bar.

    Parameters:
        close: close prices.
        side: the position held from each bar's close (-1, 0, +1; NaN counts as flat).
        regime_codes: an integer regime per bar (any values); ``None`` puts every bar in one bucket.
    """
    config = config or PriorConfig()
    close_arr = np.ascontiguousarray(np.asarray(close, dtype=np.float64))
    side_arr = np.nan_to_num(np.sign(np.asarray(side, dtype=np.float64)), nan=0.0)
    n = close_arr.shape[0]
    if side_arr.shape[0] != n:
        raise InputError(f"side has {side_arr.shape[0]} values for {n} bars")
    if regime_codes is None:
        idx = np.zeros(n, dtype=np.int64)
        n_regimes = 1
    else:
        codes = np.asarray(regime_codes)
        if codes.shape[0] != n:
            raise InputError(f"regime codes have {codes.shape[0]} values for {n} bars")
        uniques, inverse = np.unique(codes, return_inverse=True)
        idx = np.ascontiguousarray(inverse.astype(np.int64))
        n_regimes = max(1, len(uniques))
    p = np.empty(n, dtype=np.float64)
    b = np.empty(n, dtype=np.float64)
    concentration = np.empty(n, dtype=np.float64)
    beta_priors_nb(
        close_arr,
        np.ascontiguousarray(side_arr),
        idx,
        n_regimes,
        config.alpha,
        config.beta,
        config.payoff_strength,
        p,
        b,
        concentration,
    )
    return PriorEstimate(p=p, b=b, concentration=concentration)
