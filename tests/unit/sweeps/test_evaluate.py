"""Batch evaluation agrees with the one-run pipeline (decide + run_backtest) set by set."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.backtest.engine import METRIC_NAMES, EngineConfig, run_backtest
from app.backtest.sweeps.evaluate import MarketArrays, evaluate_sets, has_batch_kernel
from app.decision.pipeline import decide
from app.risk.sizing import RiskConfig
from app.strategies import get_strategy

SETS: dict[str, list[dict[str, Any]]] = {
    "sma_cross": [{"fast": 5, "slow": 10}, {"fast": 10, "slow": 20}, {"fast": 30, "slow": 90}],
    "momentum": [{"lookback": 3, "threshold": 0.0}, {"lookback": 20, "threshold": 0.02}],
    "mean_reversion": [
        {"window": 10, "entry_z": 1.0, "exit_z": 0.0},
        {"window": 40, "entry_z": 2.0, "exit_z": 0.5},
    ],
    "breakout": [{"entry_window": 20, "exit_window": 10}, {"entry_window": 55, "exit_window": 20}],
}
RISKS = {
    "all_in_long_short": RiskConfig(agent="all_in", allow_short=True),
    "fixed_regime_aware_long": RiskConfig(agent="fixed_fraction", fraction=0.6, regime_aware=True),
    "kelly_probabilistic": RiskConfig(
        agent="fractional_kelly", fraction=0.4, allow_short=True, regime_aware=True
    ),
}


def _reference(
    market: MarketArrays, strategy: str, params: dict[str, Any], risk: RiskConfig, **engine: Any
) -> np.ndarray:
    decisions = decide(market.bars, market.signals, market.regimes, get_strategy(strategy, params), risk)
    result = run_backtest(market.bars, decisions.target, EngineConfig(**engine))
    return np.array([result.metrics[name] for name in METRIC_NAMES])


@pytest.mark.parametrize("risk_name", sorted(RISKS))
@pytest.mark.parametrize("strategy", sorted(SETS))
def test_batch_matches_the_pipeline(goog: MarketArrays, strategy: str, risk_name: str) -> None:
    risk = RISKS[risk_name]
    engine = {"fill": "next_open", "commission": 0.001, "slippage_bps": 2.0, "initial_cash": 50_000.0}
    evaluation = evaluate_sets(goog, strategy, SETS[strategy], risk, **engine)
    assert (evaluation.status == 0).all(), evaluation.errors
    for i, params in enumerate(SETS[strategy]):
        expected = _reference(goog, strategy, params, risk, **engine)
        np.testing.assert_allclose(evaluation.metrics[i], expected, rtol=1e-12, equal_nan=True)


def test_close_fills_match_too(goog: MarketArrays) -> None:
    risk = RiskConfig(agent="all_in", allow_short=True)
    params = [{"fast": 8, "slow": 21}]
    evaluation = evaluate_sets(goog, "sma_cross", params, risk, fill="close", initial_cash=10_000.0)
    expected = _reference(goog, "sma_cross", params[0], risk, fill="close", initial_cash=10_000.0)
    np.testing.assert_allclose(evaluation.metrics[0], expected, rtol=1e-12, equal_nan=True)


def test_a_bad_set_fails_alone_on_the_decision_path(goog: MarketArrays) -> None:
    risk = RiskConfig(agent="fractional_kelly", fraction=0.5)
    sets = [{"fast": 10, "slow": 20}, {"fast": 20, "slow": 10}]
    evaluation = evaluate_sets(goog, "sma_cross", sets, risk)
    assert evaluation.status[0] == 0
    assert evaluation.status[1] != 0
    assert "slow must be greater than fast" in (evaluation.errors[1] or "")
    assert np.isnan(evaluation.metrics[1]).all()


def test_every_shipped_strategy_declares_a_batch_kernel() -> None:
    for name in SETS:
        assert has_batch_kernel(name), name
        get_strategy(name)
    assert not has_batch_kernel("no_such_strategy")


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("breakout", [{"entry_window": 20, "exit_window": 10}, {"entry_window": 55, "exit_window": 20}]),
        (
            "mean_reversion",
            [{"window": 20, "entry_z": 1.5, "exit_z": 0.0}, {"window": 40, "entry_z": 2.0, "exit_z": 0.5}],
        ),
        ("momentum", [{"lookback": 10, "threshold": 0.0}, {"lookback": 60, "threshold": 0.02}]),
    ],
)
def test_the_generic_one_pass_form_keeps_the_metrics_and_writes_the_replayed_returns(
    goog: MarketArrays, strategy: str, params: list[dict[str, float]]
) -> None:
    from app.backtest.sweeps.config import parse_sweep_config
    from app.backtest.sweeps.robustness import set_returns

    risk = RiskConfig(agent="fixed_fraction", fraction=0.5, allow_short=True)
    plain = evaluate_sets(goog, strategy, params, risk, commission=0.001, initial_cash=10_000.0)
    both = evaluate_sets(
        goog, strategy, params, risk, commission=0.001, initial_cash=10_000.0, with_returns=True
    )
    np.testing.assert_array_equal(both.metrics, plain.metrics, strict=True)
    np.testing.assert_array_equal(both.status, plain.status, strict=True)
    config = parse_sweep_config(
        "name: one_pass\nsymbols: [GOOG]\nvendor: sample\nstart: 2005-01-03\nend: 2013-03-01\n"
        f"strategy: {strategy}\nparams:\n"
        + "".join(f"  {k}: [{v}]\n" for k, v in params[0].items())
        + "costs: {commission: 0.001}\ninitial_cash: 10000\nallow_short: true\n"
    )
    assert both.returns is not None
    np.testing.assert_array_equal(both.returns.T, set_returns(config, goog, risk, params), strict=True)


def test_the_decision_path_keeps_no_returns(goog: MarketArrays) -> None:
    risk = RiskConfig(agent="fractional_kelly", fraction=0.5)
    evaluation = evaluate_sets(
        goog, "momentum", [{"lookback": 10, "threshold": 0.0}], risk, with_returns=True
    )
    assert evaluation.returns is None
    assert (evaluation.status == 0).all()


def test_evaluation_rows_are_the_metrics_with_non_finite_values_as_none() -> None:
    """Rows of finite metrics zipped as they are equal the per-value form, key order included."""
    import numpy as np

    from app.backtest.sweeps.evaluate import METRIC_NAMES, Evaluation

    metrics = np.random.default_rng(3).normal(size=(6, len(METRIC_NAMES)))
    metrics[1, 2] = np.nan
    metrics[3, 0] = np.inf
    metrics[4, -1] = -np.inf
    rows = Evaluation(metrics, np.zeros(6), [None] * 6).rows()
    expected = [
        {k: (float(v) if np.isfinite(v) else None) for k, v in zip(METRIC_NAMES, row, strict=True)}
        for row in metrics
    ]
    assert [list(r.items()) for r in rows] == [list(r.items()) for r in expected]
    assert rows[1][METRIC_NAMES[2]] is None and rows[3][METRIC_NAMES[0]] is None
    assert all(type(v) is float for v in rows[0].values())
    assert Evaluation(np.empty((0, len(METRIC_NAMES))), np.zeros(0), []).rows() == []
