"""Regime labels: rule, one row per bar, validation."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from app.dal.ports import BarRequest
from app.dal.synthetic import SyntheticVendor
from app.decision import REGIME_LABELS, RegimeConfig, compute_regimes, compute_signals
from app.domain.intervals import INTERVALS, build_window
from app.errors import InputError


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    interval = INTERVALS["1Day"]
    window = build_window(date(2010, 1, 1), date(2020, 12, 31), interval)
    return SyntheticVendor().fetch_bars(BarRequest("SPY", interval, window)).frame


def _oracle(sig: pd.DataFrame, cfg: RegimeConfig) -> np.ndarray:
    vol = sig["realised_vol"]
    mean = vol.rolling(cfg.vol_baseline, min_periods=1).mean()
    count = vol.rolling(cfg.vol_baseline, min_periods=1).count()
    high = vol > cfg.vol_ratio * mean
    trend = sig["efficiency"] >= cfg.efficiency_threshold
    up = sig["momentum"] >= 0
    code = np.where(trend, np.where(up, 1, 3), 5) + high.astype(int)
    warm = vol.isna() | sig["efficiency"].isna() | (count < cfg.min_baseline)
    return np.where(warm, 0, code).astype(np.int8)


def test_regimes_match_rolling_oracle_and_vary(bars: pd.DataFrame) -> None:
    sig = compute_signals(bars)
    reg = compute_regimes(bars, sig)
    assert reg.index.equals(bars.index)
    assert reg["regime_code"].dtype == np.int8
    np.testing.assert_array_equal(reg["regime_code"].to_numpy(), _oracle(sig, RegimeConfig()))
    labels = set(reg["regime"].astype(str))
    assert labels == set(REGIME_LABELS), labels
    assert (reg["regime"].astype(str).to_numpy() == np.array(REGIME_LABELS)[reg["regime_code"]]).all()


def test_regimes_refuse_signals_of_other_bars(bars: pd.DataFrame) -> None:
    sig = compute_signals(bars)
    with pytest.raises(InputError, match="one row per bar"):
        compute_regimes(bars.iloc[1:], sig)
    with pytest.raises(InputError, match="efficiency"):
        compute_regimes(bars, sig.drop(columns=["efficiency"]))
    with pytest.raises(InputError, match="efficiency_threshold"):
        RegimeConfig(efficiency_threshold=1.5)
