"""Priors (Beta hit rates, shrunk payoff) and sizing (Kelly, fixed, all-in, caps, regimes)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.bootstrap import build_risk_config
from app.config import Settings
from app.errors import ConfigError, InputError
from app.risk import (
    DEFAULT_REGIME_MULTIPLIERS,
    PriorConfig,
    RiskConfig,
    estimate_priors,
    fixed_fraction,
    fractional_kelly,
    kelly_fraction,
    size_positions,
)
from app.risk.sizing import all_in, parse_regime_multipliers


def reference_priors(
    close: np.ndarray, side: np.ndarray, regime: np.ndarray, cfg: PriorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Plain-Python statement of the model in app.risk.priors' docstring."""
    n = len(close)
    p, b = np.empty(n), np.empty(n)
    for t in range(n):
        moves = [close[s + 1] / close[s] - 1 for s in range(t - 1)]  # complete by bar t-1
        slot = -1 if side[t] < 0 else 1
        ys = [
            (1 if side[s] > 0 else -1) * moves[s]
            for s in range(t - 1)
            if side[s] != 0 and regime[s] == regime[t] and (1 if side[s] > 0 else -1) == slot
        ]
        wins = [y for y in ys if y > 0]
        losses = [-y for y in ys if y < 0]
        p[t] = (cfg.alpha + len(wins)) / (cfg.alpha + cfg.beta + len(wins) + len(losses))
        if not moves:
            b[t] = 1.0
            continue
        scale = float(np.mean(np.abs(moves)))
        k = cfg.payoff_strength
        b[t] = ((k * scale + sum(wins)) / (k + len(wins))) / ((k * scale + sum(losses)) / (k + len(losses)))
    return p, b


def test_priors_without_history_are_the_prior() -> None:
    p, b = estimate_priors(np.array([10.0, 11.0]), np.array([1.0, 1.0]), None, PriorConfig(alpha=3, beta=1))
    np.testing.assert_allclose(p, [0.75, 0.75])
    np.testing.assert_allclose(b, [1.0, 1.0])


def test_priors_hand_computed_example() -> None:
    close = np.array([100.0, 110.0, 99.0, 108.9, 100.0])
    side = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    p, b = estimate_priors(close, side, None, PriorConfig(alpha=1, beta=1, payoff_strength=0))
    # bar 2 sees the +10 % move of bar 0 -> 1 win: p = 2/3; bar 3 adds the -10 % move: 2/4
    np.testing.assert_allclose(p, [0.5, 0.5, 2 / 3, 0.5, 0.6])
    assert b[3] == pytest.approx(0.10 / 0.10)
    assert b[4] == pytest.approx(((0.10 + 0.10) / 2) / 0.10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_priors_match_the_plain_python_model(seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 120)))
    side = rng.choice([-1.0, 0.0, 1.0], 120)
    regime = rng.choice([0, 3, 5], 120)
    cfg = PriorConfig(alpha=2, beta=3, payoff_strength=4)
    p, b = estimate_priors(close, side, regime, cfg)
    p_ref, b_ref = reference_priors(close, side, regime, cfg)
    np.testing.assert_allclose(p, p_ref, rtol=1e-12)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(cut=st.integers(min_value=0, max_value=79), seed=st.integers(min_value=0, max_value=10_000))
def test_priors_use_only_data_strictly_before_the_bar(cut: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 80)))
    side = rng.choice([-1.0, 0.0, 1.0], 80)
    regime = rng.choice([0, 1], 80)
    p, b = estimate_priors(close, side, regime)
    close2, side2, regime2 = close.copy(), side.copy(), regime.copy()
    close2[cut:] *= np.exp(rng.normal(0, 0.2, 80 - cut))
    side2[cut + 1 :] = rng.choice([-1.0, 0.0, 1.0], max(0, 79 - cut))
    regime2[cut + 1 :] = 1 - regime2[cut + 1 :]
    p2, b2 = estimate_priors(close2, side2, regime2)
    # bar `cut` itself may still use its own side/regime, but nothing after it
    np.testing.assert_array_equal(p[: cut + 1], p2[: cut + 1])
    np.testing.assert_array_equal(b[: cut + 1], b2[: cut + 1])


def test_prior_config_rejects_bad_values() -> None:
    with pytest.raises(InputError):
        PriorConfig(alpha=0)
    with pytest.raises(InputError):
        PriorConfig(payoff_strength=-1)


def test_kelly_fraction_formula_and_floor() -> None:
    np.testing.assert_allclose(kelly_fraction(0.6, 1.0), 0.2)
    np.testing.assert_allclose(kelly_fraction(0.55, 2.0), 0.55 - 0.45 / 2.0)
    assert kelly_fraction(0.3, 1.0) == 0.0  # no edge: never negative
    assert kelly_fraction(np.nan, 1.0) == 0.0
    assert kelly_fraction(0.6, 0.0) == 0.0


def test_fractional_kelly_scales_then_caps() -> None:
    p = np.array([0.6, 0.9, 0.4])
    b = np.array([1.0, 3.0, 1.0])
    frac = fractional_kelly(p, b, fraction=0.4, max_position_fraction=0.25)
    np.testing.assert_allclose(frac, [0.4 * 0.2, 0.25, 0.0])  # 0.4 * (0.9 - 0.1/3) = 0.347 -> cap 0.25
    frac = fractional_kelly(p, b, fraction=0.1, max_position_fraction=0.25)
    np.testing.assert_allclose(frac, [0.02, 0.1 * (0.9 - 0.1 / 3), 0.0])


@settings(max_examples=100, deadline=None)
@given(
    p=st.floats(0, 1),
    b=st.floats(0.01, 100),
    fraction=st.floats(0.01, 1),
    cap=st.floats(0, 1),
    mult=st.floats(0, 1),
)
def test_fractional_kelly_is_always_within_its_caps(
    p: float, b: float, fraction: float, cap: float, mult: float
) -> None:
    frac = float(fractional_kelly(p, b, fraction, cap, mult))
    assert 0.0 <= frac <= min(fraction, cap) + 1e-15


def test_fixed_fraction_and_all_in() -> None:
    np.testing.assert_allclose(fixed_fraction(3, 0.5, 0.25), [0.25] * 3)
    np.testing.assert_allclose(fixed_fraction(2, 0.1, 0.25, np.array([1.0, 0.5])), [0.1, 0.05])
    np.testing.assert_allclose(all_in(2), [1.0, 1.0])
    np.testing.assert_allclose(all_in(2, np.array([0.5, 1.0])), [0.5, 1.0])


def test_regime_aware_sizing_multiplies_by_the_regime_table() -> None:
    config = RiskConfig(
        agent="fixed_fraction",
        fraction=0.2,
        max_position_fraction=1.0,
        regime_aware=True,
        regime_multipliers={"calm": 1.0, "storm": 0.25},
    )
    labels = np.array(["calm", "storm", "unknown"], dtype=object)
    frac = size_positions(config, np.full(3, np.nan), np.full(3, np.nan), labels)
    np.testing.assert_allclose(frac, [0.2, 0.05, 0.2])
    plain = RiskConfig(agent="fixed_fraction", fraction=0.2, max_position_fraction=1.0)
    np.testing.assert_allclose(size_positions(plain, np.zeros(3), np.zeros(3), labels), [0.2] * 3)


def test_risk_config_from_settings_takes_cap_and_multiplier_overrides(
    make_settings: Callable[..., Settings],
) -> None:
    settings_ = make_settings(RISK_MAX_POSITION_FRACTION=0.1, RISK_REGIME_MULTIPLIERS="warmup=0, storm=0.3")
    config = build_risk_config(settings_, agent="fractional_kelly", fraction=0.4)
    assert config.max_position_fraction == 0.1
    assert config.regime_multipliers["warmup"] == 0.0
    assert config.regime_multipliers["storm"] == 0.3
    assert config.regime_multipliers["range_high_vol"] == DEFAULT_REGIME_MULTIPLIERS["range_high_vol"]
    assert config.needs_priors


@pytest.mark.parametrize("text", ["warmup", "=0.5", "warmup=x", "warmup=1.5"])
def test_malformed_regime_multipliers_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="RISK_REGIME_MULTIPLIERS"):
        parse_regime_multipliers(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"agent": "martingale"},
        {"fraction": 0.0},
        {"fraction": 1.5},
        {"max_position_fraction": 2.0},
        {"regime_multipliers": {"x": 3.0}},
    ],
)
def test_risk_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(InputError):
        RiskConfig(**kwargs)
