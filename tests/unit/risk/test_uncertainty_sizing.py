"""Kelly on the Beta posterior's credible lower bound, against a plain-Python reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.errors import InputError
from app.risk.priors import PriorConfig, estimate_posterior, estimate_priors
from app.risk.sizing import RiskConfig, credible_lower_bound, fractional_kelly, size_positions


def _beta_cdf(x: float, a: float, b: float, steps: int = 4_000) -> float:
    """Regularised incomplete beta by Simpson's rule on the density (plain Python)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)

    def pdf(t: float) -> float:
        if t <= 0.0 or t >= 1.0:
            return 0.0
        return math.exp(log_norm + (a - 1) * math.log(t) + (b - 1) * math.log(1 - t))

    # Integrate from the side where the density is bounded (a, b >= 1 here).
    h = x / steps
    total = pdf(0.0) + pdf(x)
    for i in range(1, steps):
        total += (4 if i % 2 else 2) * pdf(i * h)
    return total * h / 3


def _reference_lower_bound(p: float, n: float, confidence: float) -> float:
    a, b = p * n, (1 - p) * n
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _beta_cdf(mid, a, b) < 1 - confidence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@given(
    p=st.floats(0.2, 0.8),
    n=st.floats(4.0, 400.0),
    confidence=st.floats(0.5, 0.95),
)
@example(p=0.75, n=4.0, confidence=0.5625)  # a skewed posterior: its median lies above its mean
@settings(max_examples=25, deadline=None)
def test_lower_bound_matches_the_plain_python_reference(p: float, n: float, confidence: float) -> None:
    got = float(credible_lower_bound(p, n, confidence))
    assert got == pytest.approx(_reference_lower_bound(p, n, confidence), abs=2e-4)


def test_lower_bound_shrinks_with_less_evidence_and_reaches_p_with_more() -> None:
    p = np.full(4, 0.6)
    n = np.array([4.0, 40.0, 400.0, 40_000.0])
    bound = credible_lower_bound(p, n, 0.8)
    assert bool(np.all(np.diff(bound) > 0))
    assert bound[-1] == pytest.approx(0.6, abs=0.003)
    np.testing.assert_array_equal(credible_lower_bound(p, n, 0.0), p)
    assert np.isnan(credible_lower_bound(np.nan, 10.0, 0.8))
    with pytest.raises(InputError):
        credible_lower_bound(p, n, 1.0)
    with pytest.raises(InputError):
        RiskConfig(kelly_confidence=-0.1)


def test_concentration_counts_the_prior_and_the_completed_outcomes() -> None:
    close = np.array([100.0, 101.0, 100.0, 102.0, 103.0, 104.0])
    side = np.ones(6)
    estimate = estimate_posterior(close, side, None, PriorConfig(alpha=2.0, beta=3.0))
    # Bar t counts outcomes s with s + 1 <= t - 1: none before t = 2, then one more per bar.
    np.testing.assert_array_equal(estimate.concentration, [5.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    p, b = estimate_priors(close, side, None, PriorConfig(alpha=2.0, beta=3.0))
    np.testing.assert_array_equal(p, estimate.p)
    np.testing.assert_array_equal(b, estimate.b)


def test_uncertainty_aware_kelly_never_bets_more_and_matches_the_formula() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.45, 0.75, 500)
    b = rng.uniform(0.8, 2.0, 500)
    n = rng.uniform(4.0, 300.0, 500)
    plain = RiskConfig(agent="fractional_kelly", fraction=0.5, max_position_fraction=1.0)
    cautious = RiskConfig(
        agent="fractional_kelly", fraction=0.5, max_position_fraction=1.0, kelly_confidence=0.8
    )
    mean_frac = size_positions(plain, p, b, None, n)
    lower_frac = size_positions(cautious, p, b, None, n)
    assert bool(np.all(lower_frac <= mean_frac + 1e-15))
    expected = fractional_kelly(credible_lower_bound(p, n, 0.8), b, 0.5, 1.0)
    np.testing.assert_allclose(lower_frac, expected)
    # One hand-checked bar: p = 0.6, n = 50, b = 1.5, c = 0.8.
    p_c = _reference_lower_bound(0.6, 50.0, 0.8)
    hand = 0.5 * max(0.0, p_c - (1 - p_c) / 1.5)
    one = size_positions(cautious, np.array([0.6]), np.array([1.5]), None, np.array([50.0]))
    assert float(one[0]) == pytest.approx(hand, abs=1e-4)
    # Without a posterior (a learned model's p), the mean is used.
    np.testing.assert_array_equal(size_positions(cautious, p, b), size_positions(plain, p, b))
