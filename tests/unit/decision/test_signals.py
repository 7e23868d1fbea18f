"""Signals checked against pandas oracles on synthetic and real bars."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from app.dal.filesource import SAMPLE_PATH, read_bar_file
from app.decision import SIGNAL_COLUMNS, SignalConfig, compute_signals
from app.errors import DataQualityError, InputError


def _wilder(series: pd.Series, n: int, first: int) -> pd.Series:
    values = series.to_numpy()
    out = np.full(len(values), np.nan)
    avg = values[first - n + 1 : first + 1].mean()
    out[first] = avg
    for i in range(first + 1, len(values)):
        avg = (avg * (n - 1) + values[i]) / n
        out[i] = avg
    return pd.Series(out, index=series.index)


def _oracle(bars: pd.DataFrame, cfg: SignalConfig) -> pd.DataFrame:
    c, h, lo = bars["close"], bars["high"], bars["low"]
    ret = np.log(c / c.shift(1))
    out = pd.DataFrame(index=bars.index)
    out["return_1"] = ret
    out["sma_fast"] = c.rolling(cfg.fast).mean()
    out["sma_slow"] = c.rolling(cfg.slow).mean()
    change = c.diff()
    gain = _wilder(change.clip(lower=0).fillna(0), cfg.rsi, cfg.rsi)
    loss = _wilder((-change).clip(lower=0).fillna(0), cfg.rsi, cfg.rsi)
    out["rsi"] = 100 - 100 / (1 + gain / loss)
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    out["atr"] = _wilder(tr, cfg.atr, cfg.atr - 1)
    out["zscore"] = (c - c.rolling(cfg.zscore).mean()) / c.rolling(cfg.zscore).std()
    out["breakout_high"] = h.rolling(cfg.breakout).max().shift(1)
    out["breakout_low"] = lo.rolling(cfg.breakout).min().shift(1)
    brk = np.where(c > out["breakout_high"], 1.0, np.where(c < out["breakout_low"], -1.0, 0.0))
    out["breakout"] = np.where(out["breakout_high"].isna(), np.nan, brk)
    out["realised_vol"] = ret.rolling(cfg.vol).std()
    out["momentum"] = c / c.shift(cfg.trend) - 1
    out["efficiency"] = (c - c.shift(cfg.trend)).abs() / change.abs().rolling(cfg.trend).sum()
    return out


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    return read_bar_file(SAMPLE_PATH)


@pytest.mark.parametrize(
    "cfg", [SignalConfig(), SignalConfig(fast=3, slow=7, rsi=5, atr=4, zscore=6, breakout=9, vol=5, trend=11)]
)
def test_signals_match_pandas_oracle_on_real_sample(goog: pd.DataFrame, cfg: SignalConfig) -> None:
    got = compute_signals(goog, cfg)
    want = _oracle(goog, cfg)
    assert list(got.columns) == list(SIGNAL_COLUMNS)
    pd.testing.assert_frame_equal(got, want[list(SIGNAL_COLUMNS)], rtol=1e-7, atol=1e-9, check_freq=False)


def test_signals_have_one_row_per_bar_and_same_index(goog: pd.DataFrame) -> None:
    sig = compute_signals(goog)
    assert sig.index.equals(goog.index)
    assert (sig.dtypes == np.float64).all()
    assert np.isnan(sig["sma_slow"].iloc[:49]).all() and np.isfinite(sig["sma_slow"].iloc[49:]).all()


def test_signals_on_empty_and_single_bar() -> None:
    from app.dal import empty_bars, make_bars

    assert compute_signals(empty_bars()).empty
    one = make_bars(pd.DatetimeIndex([pd.Timestamp(date(2023, 1, 3))]), [1.0], [2.0], [0.5], [1.5], [10.0])
    sig = compute_signals(one)
    assert len(sig) == 1 and np.isnan(sig["return_1"].iloc[0])


def test_signals_reject_nan_prices_and_missing_columns(goog: pd.DataFrame) -> None:
    broken = goog.copy()
    broken.iloc[5, broken.columns.get_loc("close")] = np.nan
    with pytest.raises(DataQualityError, match="NaN"):
        compute_signals(broken)
    with pytest.raises(InputError, match="close"):
        compute_signals(goog.drop(columns=["close"]))
    with pytest.raises(InputError, match="at least 2"):
        SignalConfig(fast=1)
