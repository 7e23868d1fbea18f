"""Walk-forward and overfitting statistics of a sweep, end to end and against hand computations."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from app.backtest.engine import EngineConfig, run_backtest
from app.backtest.overfitting import deflated_sharpe_ratio, sharpe_stats
from app.backtest.sweeps import parse_sweep_config, run_sweep
from app.backtest.sweeps.evaluate import MarketArrays
from app.backtest.sweeps.robustness import set_returns, window_scores
from app.backtest.sweeps.walkforward import plan_walk_forward
from app.bootstrap import build_sweep_deps
from app.config import Settings
from app.decision.pipeline import decide
from app.errors import ConfigError
from app.risk.sizing import RiskConfig
from app.strategies import get_strategy, register_strategy, unregister_strategy
from app.strategies.base import BarArrays, Strategy, close_array

CONFIG = """\
name: wf_sweep
symbols: [GOOG]
vendor: sample
start: 2005-01-03
end: 2013-03-01
strategy: momentum
params:
  lookback: [5, 20, 60]
  threshold: [0.0, 0.01, 0.03]
costs: {commission: 0.001}
allow_short: true
initial_cash: 10000
objective: {metric: sharpe}
walk_forward: {folds: 4, train_bars: 400}
promotion: {pbo_splits: 8}
"""


def test_set_returns_rebuild_each_sets_equity(goog: MarketArrays) -> None:
    config = parse_sweep_config(CONFIG)
    risk = RiskConfig(agent="all_in", allow_short=True)
    returns = set_returns(config, goog, risk, [{"lookback": 20, "threshold": 0.01}])
    strategy = get_strategy("momentum", {"lookback": 20, "threshold": 0.01})
    decisions = decide(goog.bars, goog.signals, goog.regimes, strategy, risk)
    engine = EngineConfig(commission=0.001, initial_cash=10_000)
    equity = run_backtest(goog.bars, decisions.target, engine).equity.to_numpy()
    np.testing.assert_allclose(10_000 * np.cumprod(1 + returns[:, 0]), equity, rtol=1e-12)


def test_window_scores_match_direct_formulas() -> None:
    rng = np.random.default_rng(1)
    returns = rng.normal(0.0005, 0.01, (250, 3))
    sharpe = window_scores(returns, "sharpe", 252.0)
    expected = returns.mean(axis=0) / returns.std(axis=0, ddof=1) * math.sqrt(252)
    np.testing.assert_allclose(sharpe, expected)
    total = window_scores(returns, "total_return", 252.0)
    np.testing.assert_allclose(total, np.prod(1 + returns, axis=0) - 1)
    growth = np.cumprod(1 + returns[:, 0])
    drawdown = np.min(growth / np.maximum.accumulate(np.concatenate(([1.0], growth)))[1:] - 1)
    assert window_scores(returns, "max_drawdown", 252.0)[0] == pytest.approx(drawdown)


def _reference_window_scores(returns: np.ndarray, metric: str, periods_per_year: float) -> np.ndarray:
    """The former implementation (an equity matrix by ``np.cumprod`` for every metric)."""
    growth = np.cumprod(1.0 + returns, axis=0)
    if metric in ("total_return", "final_equity"):
        return np.asarray(growth[-1] - 1.0)
    if metric == "cagr":
        years = returns.shape[0] / periods_per_year
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(growth[-1] > 0, growth[-1] ** (1.0 / years) - 1.0, -1.0))
    if metric == "max_drawdown":
        peak = np.maximum.accumulate(np.vstack([np.ones((1, returns.shape[1])), growth]), axis=0)[1:]
        return np.asarray((growth / peak - 1.0).min(axis=0))
    mean = returns.mean(axis=0)
    if metric == "sortino":
        downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(downside > 0, mean / downside * math.sqrt(periods_per_year), 0.0))
    std = returns.std(axis=0, ddof=1) if returns.shape[0] > 1 else np.zeros(returns.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(std > 0, mean / std * math.sqrt(periods_per_year), 0.0))


@pytest.mark.parametrize(
    "metric", ["total_return", "final_equity", "cagr", "max_drawdown", "sortino", "sharpe"]
)
def test_window_scores_are_bit_identical_to_the_equity_matrix_implementation(metric: str) -> None:
    rng = np.random.default_rng(7)
    # the sweep's layout: a (sets x bars) C array read as (bars x sets), sliced by windows
    matrix = rng.normal(0.0003, 0.02, (57, 900)).T
    matrix[:, 3] = 0.0  # a flat set
    matrix[100:, 4] = -1.0  # ruined: growth 0 from bar 100 on
    matrix[200, 5] = np.nan  # a NaN spreads through growth, peak and drawdown
    matrix[300, 6] = np.inf  # growth inf, then inf / inf
    matrix[10:20, 7] = 0.5  # a new high inside the window
    windows = [
        matrix,
        matrix[:400],
        matrix[250:750],
        matrix[899:],
        matrix[::3],  # strided bars
        np.ascontiguousarray(matrix[120:600]),  # C-ordered bars x sets
        matrix[:, 5][:, None],  # one column, as the fold scores call it
    ]
    for window in windows:
        with np.errstate(invalid="ignore", over="ignore"):  # the inf column, on both sides
            expected = _reference_window_scores(window, metric, 252.0)
            actual = window_scores(window, metric, 252.0)
        np.testing.assert_array_equal(actual, expected, strict=True)


def test_walk_forward_sweep_reports_in_and_out_of_sample_side_by_side(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "wf"
    result = run_sweep(
        parse_sweep_config(CONFIG), out, settings=settings, deps=build_sweep_deps(settings), write_frame=False
    )
    assert result.ok == 9
    report = result.robustness["GOOG"]
    walk = report["walk_forward"]
    assert [fold["fold"] for fold in walk["folds"]] == [0, 1, 2, 3]
    assert walk["oos_bars"] == sum(f["test"][1] - f["test"][0] for f in walk["folds"])
    assert report["pbo"]["combinations"] == math.comb(8, 4)  # 70, below the sampling bound
    assert 0.0 <= report["pbo"]["probability"] <= 1.0
    assert 0.0 <= report["in_sample"]["deflated_sharpe"] <= 1.0
    assert report["in_sample"]["trials"] == 9
    dsr = walk["oos_dsr"]["deflated_sharpe"]
    assert result.promotable == (dsr >= 0.95)
    assert report["reason"].startswith("out-of-sample deflated Sharpe")
    if result.promotable:
        assert report["bias_check"]["ok"] is True
    else:  # the replay runs only for a winner that could be promoted
        assert report["bias_check"]["ok"] is None
        assert report["bias_check"]["summary"].startswith("not checked: the winner cannot be promoted")

    run = json.loads((out / "run.json").read_text())
    assert run["promotable"] == result.promotable
    assert run["robustness"]["GOOG"]["walk_forward"]["folds"] == walk["folds"]
    rows = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert all(
        set(row["validation"]) == {"is_sharpe", "oos_sharpe", "is_total_return", "oos_total_return"}
        for row in rows
    )
    with (out / "leaderboard.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header[-4:] == ["is_sharpe", "oos_sharpe", "is_total_return", "oos_total_return"]


def test_fold_choice_and_oos_dsr_recomputed_by_hand(
    goog: MarketArrays, settings: Settings, tmp_path: Path
) -> None:
    config = parse_sweep_config(CONFIG)
    result = run_sweep(
        config, tmp_path / "wf", settings=settings, deps=build_sweep_deps(settings), write_frame=False
    )
    rows = [json.loads(line) for line in (tmp_path / "wf" / "summary.jsonl").read_text().splitlines()]
    risk = RiskConfig(agent="all_in", allow_short=True)
    returns = set_returns(config, goog, risk, [row["params"] for row in rows])
    plan = plan_walk_forward(len(goog), folds=4, train_bars=400)
    ppy = goog.periods_per_year
    pieces = []
    for fold, reported in zip(plan.folds, result.robustness["GOOG"]["walk_forward"]["folds"], strict=True):
        scores = window_scores(returns[fold.train], "sharpe", ppy)
        chosen = int(np.argmax(scores))
        assert rows[chosen]["set_id"] == reported["set_id"]
        pieces.append(returns[fold.test, chosen])
    stitched = np.concatenate(pieces)
    stats = sharpe_stats(stitched)
    trial = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    expected = deflated_sharpe_ratio(
        stats.sharpe,
        stats.observations,
        trials=9,
        trial_sharpe_variance=float(np.var(trial, ddof=1)),
        skew=stats.skew,
        kurtosis=stats.kurtosis,
    )
    got = result.robustness["GOOG"]["walk_forward"]["oos_dsr"]["deflated_sharpe"]
    assert got == pytest.approx(expected, rel=1e-9)


def test_without_walk_forward_nothing_is_promotable_and_windows_must_fit(
    settings: Settings, tmp_path: Path
) -> None:
    plain = CONFIG.replace("walk_forward: {folds: 4, train_bars: 400}\n", "")
    result = run_sweep(
        parse_sweep_config(plain),
        tmp_path / "plain",
        settings=settings,
        deps=build_sweep_deps(settings),
        write_frame=False,
    )
    assert result.promotable is False
    assert "no walk_forward" in result.robustness["GOOG"]["reason"]
    assert result.robustness["GOOG"]["bias_check"]["ok"] is None  # not promotable: not replayed
    assert result.robustness["GOOG"]["in_sample"]["deflated_sharpe"] is not None
    too_long = CONFIG.replace("train_bars: 400", "train_bars: 5000")
    with pytest.raises(ConfigError, match="walk_forward"):
        run_sweep(
            parse_sweep_config(too_long),
            tmp_path / "long",
            settings=settings,
            deps=build_sweep_deps(settings),
            write_frame=False,
        )
    too_big = CONFIG.replace(
        "promotion: {pbo_splits: 8}", "promotion: {pbo_splits: 8, max_return_cells: 1000}"
    )
    with pytest.raises(ConfigError, match="max_return_cells"):
        run_sweep(
            parse_sweep_config(too_big),
            tmp_path / "big",
            settings=settings,
            deps=build_sweep_deps(settings),
            write_frame=False,
        )
    with pytest.raises(ConfigError, match="even"):
        parse_sweep_config(CONFIG.replace("pbo_splits: 8", "pbo_splits: 7"))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _LastCross(Strategy):
    """Holds its side from the last SMA cross (sma_cross's old, event-based rule): a history
    that starts later is flat until its first cross, which the recursive check catches."""

    name: ClassVar[str] = "test_last_cross"
    fast: int = 10
    slow: int = 30

    def validate(self) -> None:
        self._require(self.slow > self.fast >= 1, "slow must be greater than fast")

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = pd.Series(close_array(bars))
        fast, slow = close.rolling(self.fast).mean(), close.rolling(self.slow).mean()
        up = (fast.shift() < slow.shift()) & (fast > slow)
        down = (fast.shift() > slow.shift()) & (fast < slow)
        side = pd.Series(np.where(up, 1.0, np.where(down, -1.0, np.nan))).ffill().fillna(0.0)
        return side.to_numpy()


def test_a_strategy_that_fails_its_bias_check_is_never_promotable(settings: Settings, tmp_path: Path) -> None:
    config = CONFIG.replace(
        "strategy: momentum\nparams:\n  lookback: [5, 20, 60]\n  threshold: [0.0, 0.01, 0.03]",
        "strategy: test_last_cross\nparams:\n  fast: [5, 10]\n  slow: [30, 60]",
    ).replace("promotion: {pbo_splits: 8}", "promotion: {pbo_splits: 8, min_oos_deflated_sharpe: 0.0}")
    # the bar is lowered to 0 so the winner could be promoted: only then does the check run
    register_strategy(_LastCross)
    try:
        result = run_sweep(
            parse_sweep_config(config),
            tmp_path / "sma",
            settings=settings,
            deps=build_sweep_deps(settings),
            write_frame=False,
        )
    finally:
        unregister_strategy(_LastCross.name)
    report = result.robustness["GOOG"]
    assert report["bias_check"]["ok"] is False
    assert report["bias_check"]["divergences"][0]["kind"] == "recursive"
    assert result.promotable is False
    assert report["reason"].startswith("the strategy failed its bias check")


def test_sma_cross_passes_its_bias_check_in_a_sweep(settings: Settings, tmp_path: Path) -> None:
    # min_oos_deflated_sharpe 0: the winner could be promoted, so the bias check runs
    config = CONFIG.replace(
        "strategy: momentum\nparams:\n  lookback: [5, 20, 60]\n  threshold: [0.0, 0.01, 0.03]",
        "strategy: sma_cross\nparams:\n  fast: [5, 10]\n  slow: [30, 60]",
    ).replace("promotion: {pbo_splits: 8}", "promotion: {pbo_splits: 8, min_oos_deflated_sharpe: 0.0}")
    result = run_sweep(
        parse_sweep_config(config),
        tmp_path / "sma",
        settings=settings,
        deps=build_sweep_deps(settings),
        write_frame=False,
    )
    report = result.robustness["GOOG"]
    assert report["bias_check"]["ok"] is True
    assert not report["reason"].startswith("the strategy failed its bias check")


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("sma_cross", [{"fast": 5, "slow": 30}, {"fast": 10, "slow": 60}]),
        ("breakout", [{"entry_window": 20, "exit_window": 10}, {"entry_window": 55, "exit_window": 20}]),
        ("mean_reversion", [{"window": 20, "entry_z": 1.5, "exit_z": 0.0}]),
        ("momentum", [{"lookback": 10, "threshold": 0.0}]),
    ],
)
def test_the_compiled_equity_path_equals_the_pipeline_replay(
    goog: MarketArrays, strategy: str, params: list[dict[str, float]]
) -> None:
    from app.backtest.sweeps.robustness import _replayed_equity

    config = parse_sweep_config(CONFIG.replace("strategy: momentum", f"strategy: {strategy}"))
    risk = RiskConfig(agent="fixed_fraction", fraction=0.5, allow_short=True)
    fast = set_returns(config, goog, risk, params)
    slow_equity = _replayed_equity(config, goog, risk, params)
    previous = np.concatenate([np.full((len(params), 1), config.initial_cash), slow_equity[:, :-1]], axis=1)
    np.testing.assert_allclose(fast, (slow_equity / previous - 1.0).T, rtol=1e-10, atol=1e-13)


def test_window_sharpe_by_bounds_equals_the_sliced_window_score() -> None:
    from app.backtest.sweeps.robustness import _window_sharpe

    rng = np.random.default_rng(11)
    matrix = rng.normal(0.0003, 0.02, (23, 700)).T  # the sweep's layout
    fallback = np.ascontiguousarray(matrix)  # bars x sets C-ordered: NumPy's reductions
    for lo, hi in [(0, 700), (0, 211), (211, 700), (698, 700)]:
        expected = window_scores(matrix[lo:hi], "sharpe", 252.0)
        np.testing.assert_array_equal(_window_sharpe(matrix, lo, hi, 252.0), expected, strict=True)
        np.testing.assert_array_equal(
            _window_sharpe(fallback, lo, hi, 252.0),
            window_scores(fallback[lo:hi], "sharpe", 252.0),
            strict=True,
        )


def test_finite_list_is_the_per_value_conversion() -> None:
    from app.backtest.sweeps.robustness import _finite, _finite_list

    values = np.array([0.1 + 0.2, -0.0, np.nan, np.inf, -np.inf, 1e-300, -2.5])
    assert _finite_list(values) == [_finite(float(v)) for v in values]
    assert [type(v) for v in _finite_list(values)] == [
        float,
        float,
        type(None),
        type(None),
        type(None),
        float,
        float,
    ]
