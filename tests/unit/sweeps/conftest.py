"""Fixtures for sweep tests: the shipped GOOG sample loaded once through the DAL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from app.backtest.sweeps.evaluate import MarketArrays
from app.bootstrap import build_market_data
from app.config import Settings
from app.decision import compute_regimes, compute_signals


@pytest.fixture(scope="session")
def goog(tmp_path_factory: pytest.TempPathFactory) -> MarketArrays:
    root = tmp_path_factory.mktemp("goog")
    settings = Settings(_env_file=None, DATA_DIR=root / "var", ARTIFACTS_DIR=root / "artifacts")  # type: ignore[call-arg]
    fetched = build_market_data(settings).fetch("sample", "GOOG", date(2005, 1, 3), date(2013, 3, 1))
    signals = compute_signals(fetched.bars)
    return MarketArrays.from_frames("GOOG", fetched.bars, signals, compute_regimes(fetched.bars, signals))


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()
