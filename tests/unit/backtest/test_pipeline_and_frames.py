"""The shared decision pipeline, and frame + manifest writing (including concurrent writers)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.backtest.frames import (
    MANIFEST_NAME,
    append_manifest,
    frame_filename,
    read_manifest,
    write_frame,
)
from app.decision import compute_regimes, compute_signals
from app.decision.pipeline import DECISION_COLUMNS, decide, decide_latest
from app.errors import InputError
from app.risk import RiskConfig
from app.strategies import get_strategy

GOOG = Path(__file__).resolve().parents[3] / "app" / "dal" / "data" / "GOOG.csv"


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    raw = pd.read_csv(GOOG, index_col=0, parse_dates=True)
    raw.index = raw.index.tz_localize("UTC").rename("timestamp")
    return raw.rename(columns=str.lower).astype(float)


def test_decide_all_in_long_only_clips_shorts_and_skips_priors(goog: pd.DataFrame) -> None:
    strategy = get_strategy("sma_cross", {"fast": 10, "slow": 20})
    frame = decide(goog, None, None, strategy, RiskConfig())
    raw = strategy.target_positions(goog)
    np.testing.assert_array_equal(frame.position, np.maximum(raw, 0))
    np.testing.assert_array_equal(frame.target, frame.position)
    assert np.isnan(frame.prob).all()
    assert list(frame.to_frame().columns) == list(DECISION_COLUMNS)
    assert (frame.regime == "all").all()


def test_decide_fractional_kelly_is_capped_and_regime_aware(goog: pd.DataFrame) -> None:
    signals = compute_signals(goog)
    regimes = compute_regimes(goog, signals)
    risk = RiskConfig(
        agent="fractional_kelly",
        fraction=0.4,
        max_position_fraction=0.25,
        regime_aware=True,
        allow_short=True,
        regime_multipliers={"warmup": 0.0},
    )
    frame = decide(goog, signals, regimes, get_strategy("momentum", {}), risk)
    assert ((frame.frac >= 0) & (frame.frac <= 0.25)).all()
    assert (frame.frac[frame.regime == "warmup"] == 0).all()
    assert (frame.position == -1).any()
    assert ((frame.prob > 0) & (frame.prob < 1)).all()
    np.testing.assert_array_equal(frame.target, frame.position * frame.frac)
    np.testing.assert_array_equal(frame.regime_code, regimes["regime_code"].to_numpy())
    latest = decide_latest(goog, signals, regimes, get_strategy("momentum", {}), risk)
    assert latest.timestamp == goog.index[-1].to_pydatetime()
    assert latest == frame.latest()
    assert latest.frac == frame.frac[-1]


def test_decide_rejects_misaligned_regimes(goog: pd.DataFrame) -> None:
    regimes = pd.DataFrame({"regime": ["x"], "regime_code": [0]})
    with pytest.raises(InputError, match="regimes have 1 rows"):
        decide(goog, None, regimes, get_strategy("momentum", {}), RiskConfig())


def test_frame_filename_follows_the_runbook_example() -> None:
    assert frame_filename("aapl", "momentum", "yahoo", "1Day") == "AAPL_momentum_yahoo_1day.parquet"


def test_write_frame_writes_parquet_and_one_manifest_line(tmp_path: Path, goog: pd.DataFrame) -> None:
    frame = goog.iloc[:50]
    record = write_frame(
        frame,
        frames_dir=tmp_path,
        symbol="GOOG",
        strategy="sma_cross",
        vendor="sample",
        interval="1Day",
        source="sweep",
        run_id="r1",
        extra={"job_id": "j1"},
    )
    assert Path(record.path) == tmp_path / "GOOG_sma_cross_sample_1day.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(record.path), frame)
    (line,) = read_manifest(tmp_path / MANIFEST_NAME)
    assert line["source"] == "sweep"
    assert line["rows"] == 50
    assert line["columns"] == list(frame.columns)
    assert line["start"] == frame.index[0].isoformat()
    assert line["end"] == frame.index[-1].isoformat()
    assert line["run_id"] == "r1"
    assert line["job_id"] == "j1"
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_frame_rejects_an_unknown_source(tmp_path: Path, goog: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="source"):
        write_frame(
            goog, frames_dir=tmp_path, symbol="G", strategy="s", vendor="v", interval="1Day", source="x"
        )  # type: ignore[arg-type]


def _append_many(path: str, worker: int, count: int) -> None:
    for i in range(count):
        append_manifest(Path(path), {"worker": worker, "i": i, "pad": "x" * 5000})


def test_concurrent_manifest_appends_never_interleave(tmp_path: Path) -> None:
    manifest = tmp_path / "frames" / MANIFEST_NAME
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(manifest), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = manifest.read_text().splitlines()
    assert len(lines) == 160
    parsed = [json.loads(line) for line in lines]
    for w in range(4):
        assert [r["i"] for r in parsed if r["worker"] == w] == list(range(40))


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(["momentum", "mean_reversion", "breakout", "sma_cross"]),
    cut=st.integers(min_value=40, max_value=299),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_pipeline_has_no_look_ahead_with_dal_signals_and_regimes(name: str, cut: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    index = pd.date_range("2021-01-04", periods=300, freq="B", tz="UTC", name="timestamp")
    bars = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1e6}, index=index
    )
    changed = bars.copy()
    factor = np.exp(rng.normal(0, 0.1, 300 - cut))
    for column in ("open", "high", "low", "close"):
        changed.iloc[cut:, changed.columns.get_loc(column)] *= factor
    risk = RiskConfig(agent="fractional_kelly", fraction=0.5, regime_aware=True, allow_short=True)
    frames = []
    for data in (bars, changed):
        signals = compute_signals(data)
        frames.append(decide(data, signals, compute_regimes(data, signals), get_strategy(name, {}), risk))
    before, after = frames
    for field in ("position", "prob", "payoff", "frac", "target", "regime_code"):
        np.testing.assert_array_equal(
            getattr(before, field)[:cut], getattr(after, field)[:cut], err_msg=field
        )
