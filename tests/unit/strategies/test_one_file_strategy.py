"""Adding a strategy touches one file: a toy strategy defined and registered here, and nowhere
else, runs through the runbook's single backtest and a parameter sweep (batch kernel included)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from numba import njit

from app.backtest.engine import METRIC_NAMES, EngineConfig, run_backtest
from app.backtest.run_breakout import main as run_breakout
from app.backtest.sweeps import parse_sweep_config, run_sweep
from app.backtest.sweeps.evaluate import evaluate_sets, has_batch_kernel
from app.backtest.sweeps.runner import dal_loader
from app.bootstrap import build_market_data, build_risk_config, build_sweep_deps
from app.config import Settings
from app.decision import decide
from app.errors import InputError
from app.risk.sizing import RiskConfig
from app.strategies import (
    STRATEGIES,
    BarArrays,
    BatchInputs,
    BatchKernel,
    Strategy,
    get_strategy,
    register_strategy,
    unregister_strategy,
)
from app.strategies.base import close_array, column_array


@njit
def _candle_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    band: float,
    confirm: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Side of the candle body when it spans more than ``band`` of the bar's range, held only
    once ``confirm`` bars in a row agree."""
    side, run = 0.0, 0
    for t in range(close.shape[0]):
        span = high[t] - low[t]
        body = (close[t] - open_[t]) / span if span > 0.0 else 0.0
        now = 1.0 if body > band else (-1.0 if body < -band else 0.0)
        run = run + 1 if now == side else 1
        side = now
        out[t] = side if run >= confirm else 0.0


@njit
def _toy_set_target_nb(
    i: int,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    tables: np.ndarray,
    ints: np.ndarray,
    floats: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    _candle_nb(open_, high, low, close, floats[i, 0], ints[i, 0], out)  # band, confirm


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ToyCandle(Strategy):
    """Follow strong candle bodies (the toy of this test)."""

    name: ClassVar[str] = "toy_candle"
    batch: ClassVar[BatchKernel | None] = BatchKernel(target=_toy_set_target_nb)
    band: float = 0.5
    confirm: int = 1

    def validate(self) -> None:
        self._require(0.0 <= self.band < 1.0, f"band must be in [0, 1), got {self.band}")
        self._require(self.confirm >= 1, f"confirm must be >= 1, got {self.confirm}")

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = close_array(bars)
        out = np.empty_like(close)
        _candle_nb(
            column_array(bars, "open"),
            column_array(bars, "high"),
            column_array(bars, "low"),
            close,
            self.band,
            self.confirm,
            out,
        )
        return out


SWEEP = """\
name: toy_sweep
symbols: [GOOG]
vendor: sample
start: 2005-01-03
end: 2013-03-01
strategy: toy_candle
params:
  band: [0.2, 0.5, 0.8]
  confirm: [1, 2]
costs: {commission: 0.001}
allow_short: true
initial_cash: 10000
objective: {metric: total_return}
"""


@pytest.fixture
def toy() -> Iterator[type[ToyCandle]]:
    register_strategy(ToyCandle)
    try:
        yield ToyCandle
    finally:
        unregister_strategy(ToyCandle.name)


def test_registering_makes_it_known_by_name_everywhere(toy: type[ToyCandle]) -> None:
    assert STRATEGIES["toy_candle"] is toy and has_batch_kernel("toy_candle")
    assert get_strategy("toy_candle", {"band": "0.3", "confirm": "2"}).params() == {"band": 0.3, "confirm": 2}
    assert toy.param_dtypes() == {"band": np.float64, "confirm": np.int64}
    with pytest.raises(InputError, match="confirm must be >= 1"):
        get_strategy("toy_candle", {"confirm": 0})


def test_a_single_backtest_runs_through_the_runbook_command(
    toy: type[ToyCandle],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKTEST_NO_SAVE", "1")
    monkeypatch.setenv("BACKTEST_OUT_DIR", str(tmp_path / "out"))
    code = run_breakout(
        [
            "--symbol", "AAPL", "--start", "2023-01-03", "--end", "2023-06-30",
            "--strategy", "toy_candle", "--param", "band=0.3", "--param", "confirm=1",
            "--dal-vendor", "synthetic", "--allow-short", "--json",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["strategy"] == "toy_candle" and summary["params"] == {"band": 0.3, "confirm": 1}
    assert summary["bars"] > 100 and summary["num_trades"] > 0
    assert Path(summary["prob_frame_path"]).name == "AAPL_toy_candle_synthetic_1day.parquet"


def test_a_sweep_runs_its_batch_kernel_and_matches_single_backtests(
    toy: type[ToyCandle], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    config = parse_sweep_config(SWEEP)
    result = run_sweep(
        config, tmp_path / "out", settings=settings, deps=build_sweep_deps(settings), write_frame=False
    )
    assert (result.total, result.ok, result.failed) == (6, 6, 0)
    assert result.best is not None

    market = dal_loader(build_market_data(settings))(config, "GOOG")
    sets: list[Mapping[str, Any]] = [
        {"band": band, "confirm": confirm} for band in (0.2, 0.5, 0.8) for confirm in (1, 2)
    ]
    engine = {"commission": 0.001, "initial_cash": 10_000.0}
    for risk in (RiskConfig(agent="all_in", allow_short=True), RiskConfig(agent="fractional_kelly")):
        evaluation = evaluate_sets(market, "toy_candle", sets, risk, **engine)
        assert (evaluation.status == 0).all(), evaluation.errors
        for i, params in enumerate(sets):
            decisions = decide(
                market.bars, market.signals, market.regimes, get_strategy("toy_candle", params), risk
            )
            single = run_backtest(market.bars, decisions.target, EngineConfig(**engine))
            expected = [single.metrics[name] for name in METRIC_NAMES]
            np.testing.assert_allclose(evaluation.metrics[i], expected, rtol=1e-12, equal_nan=True)
    best = get_strategy("toy_candle", result.best["params"])
    decisions = decide(
        market.bars,
        market.signals,
        market.regimes,
        best,
        build_risk_config(settings, allow_short=True),
    )
    single = run_backtest(market.bars, decisions.target, EngineConfig(**engine))
    assert result.best["metrics"]["final_equity"] == pytest.approx(single.metrics["final_equity"], rel=1e-12)


def _rows(bars: BarArrays, columns: Mapping[str, np.ndarray]) -> BatchInputs:
    return BatchInputs(np.empty((0, 0, len(bars))), np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1)))


def test_batch_inputs_that_do_not_line_up_fail_every_set_with_a_clear_error(
    toy: type[ToyCandle], make_settings: Callable[..., Settings]
) -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Misaligned(ToyCandle):
        name: ClassVar[str] = "toy_misaligned"
        batch: ClassVar[BatchKernel | None] = BatchKernel(target=_toy_set_target_nb, prepare=_rows)

    register_strategy(Misaligned)
    try:
        market = dal_loader(build_market_data(make_settings()))(parse_sweep_config(SWEEP), "GOOG")
        evaluation = evaluate_sets(market, "toy_misaligned", [{"band": 0.2}, {"band": 0.4}], RiskConfig())
    finally:
        unregister_strategy("toy_misaligned")
    assert (evaluation.status != 0).all()
    assert all("batch inputs have 1 rows for 2 sets" in (e or "") for e in evaluation.errors)


def test_the_registry_refuses_malformed_or_clashing_strategies(toy: type[ToyCandle]) -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Clash(ToyCandle):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_strategy(Clash)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class BadName(ToyCandle):
        name: ClassVar[str] = "Toy Candle"

    with pytest.raises(ValueError, match="strategy name must match"):
        register_strategy(BadName)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class TextParam(ToyCandle):
        name: ClassVar[str] = "toy_text"
        label: str = "x"

    with pytest.raises(TypeError, match="unsupported parameter type"):
        register_strategy(TextParam)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class BadBatch(ToyCandle):
        name: ClassVar[str] = "toy_bad_batch"
        batch: ClassVar[Any] = _toy_set_target_nb

    with pytest.raises(TypeError, match="batch must be a BatchKernel or None"):
        register_strategy(BadBatch)
    with pytest.raises(InputError, match="unknown strategy"):
        unregister_strategy("toy_never_registered")
    assert set(STRATEGIES) == {"breakout", "mean_reversion", "momentum", "sma_cross", "toy_candle"}
