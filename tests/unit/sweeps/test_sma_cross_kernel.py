"""The crossover sweep's fused kernel gives run_backtest's numbers bit for bit, in each of its modes.

The kernel keeps two inlined copies of the bar loop: next-open fills with every side taken whole
(every bar's fraction at least 1), and the general loop (either fill, sized bar by bar). Every
(fill, sizing) case is checked against the one-run pipeline (decide + run_backtest) with exact
equality, as is a ruin (equity below zero) before and on the last bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.backtest.engine import METRIC_NAMES, STATUS_RUINED, EngineConfig, run_backtest
from app.backtest.sweeps.evaluate import MarketArrays, SizingArrays, evaluate_sets
from app.decision.pipeline import decide
from app.risk.sizing import RiskConfig
from app.strategies import get_strategy

pytestmark = pytest.mark.unit

SETS = [{"fast": 5, "slow": 10}, {"fast": 10, "slow": 20}, {"fast": 13, "slow": 48}, {"fast": 30, "slow": 90}]
RISKS = {
    # every bar's fraction is 1: the loop that takes each side whole
    "all_in_long_short": RiskConfig(agent="all_in", allow_short=True),
    "all_in_long_only": RiskConfig(agent="all_in", allow_short=False),
    # fractions below 1 (fixed, or scaled by the regime): the loop that sizes bar by bar
    "fixed_long_short": RiskConfig(agent="fixed_fraction", fraction=0.5, allow_short=True),
    "all_in_regime_aware": RiskConfig(agent="all_in", allow_short=True, regime_aware=True),
}


def _reference(
    market: MarketArrays, params: dict[str, int], risk: RiskConfig, config: EngineConfig
) -> np.ndarray:
    decisions = decide(market.bars, market.signals, market.regimes, get_strategy("sma_cross", params), risk)
    result = run_backtest(market.bars, decisions.target, config)
    return np.array([result.metrics[name] for name in METRIC_NAMES])


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("risk_name", sorted(RISKS))
def test_every_loop_copy_matches_the_pipeline_exactly(goog: MarketArrays, risk_name: str, fill: str) -> None:
    risk = RISKS[risk_name]
    sizing = SizingArrays.from_risk(risk, goog)
    whole = bool((sizing.scale_long >= 1.0).all())
    assert whole == risk_name.startswith("all_in_long"), "the case does not exercise the loop it names"
    config = EngineConfig(fill=fill, commission=0.002, slippage_bps=3.0, initial_cash=25_000.0)  # type: ignore[arg-type]
    evaluation = evaluate_sets(
        goog, "sma_cross", SETS, risk, fill=fill, commission=0.002, slippage_bps=3.0, initial_cash=25_000.0
    )
    assert (evaluation.status == 0).all(), evaluation.errors
    assert (evaluation.metrics[:, METRIC_NAMES.index("num_trades")] > 0).all()
    for i, params in enumerate(SETS):
        np.testing.assert_array_equal(evaluation.metrics[i], _reference(goog, params, risk, config))


def _market(open_: list[float], close: list[float]) -> MarketArrays:
    index = pd.date_range("2024-01-01", periods=len(close), freq="D")
    bars = pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close), "close": close,
         "volume": 1_000.0},
        index=index,
    )  # fmt: skip
    return MarketArrays.from_frames("TEST", bars)


@pytest.mark.parametrize("ruin_at_last_bar", [False, True])
def test_a_ruinous_short_is_liquidated_as_run_backtest_does(ruin_at_last_bar: bool) -> None:
    # falling prices open a short (fast mean below slow); then the price jumps far above the
    # entry, equity goes below zero, and the short is liquidated at that close
    falling = [100.0 - 2.0 * i for i in range(12)]
    jump = [400.0, 410.0, 420.0] if not ruin_at_last_bar else [400.0]
    close = falling + jump
    open_ = [close[0], *close[:-1]]
    market = _market(open_, close)
    risk = RiskConfig(agent="all_in", allow_short=True)
    params = {"fast": 2, "slow": 4}
    evaluation = evaluate_sets(market, "sma_cross", [params], risk, initial_cash=1_000.0)
    assert evaluation.status[0] == STATUS_RUINED
    decisions = decide(market.bars, None, None, get_strategy("sma_cross", params), risk)
    result = run_backtest(market.bars, decisions.target, EngineConfig(initial_cash=1_000.0))
    assert result.status == STATUS_RUINED
    assert result.final_equity < 0.0
    expected = np.array([result.metrics[name] for name in METRIC_NAMES])
    np.testing.assert_array_equal(evaluation.metrics[0], expected)
    # the liquidation closed the short on the bar equity fell below zero, at that bar's close
    trades = result.trades
    assert trades.side.iloc[-1] == "short"
    assert trades.exit_bar.iloc[-1] == len(falling)
