"""Every name in the public modules' ``__all__`` exists, and BarArrays shares one extraction."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from app.errors import InputError
from app.strategies import BarArrays

MODULES = [
    "app.strategies",
    "app.strategies.base",
    "app.strategies.kernels",
    "app.strategies.registry",
    "app.strategies.sma_cross",
    "app.strategies.momentum",
    "app.strategies.mean_reversion",
    "app.strategies.breakout",
    "app.backtest.sweeps.evaluate",
    "app.backtest.sweeps.kernels",
    "app.risk",
    "app.risk.priors",
    "app.risk.sizing",
    "app.backtest.engine",
    "app.decision",
    "app.decision.pipeline",
    "app.decision.signals",
    "app.decision.regimes",
    "app.backtest.frames",
    "app.backtest.service",
    "app.backtest.run_breakout",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_only_existing_names(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for item in module.__all__:
        assert hasattr(module, item), f"{name}.{item}"


def test_bar_arrays_extract_each_column_once_and_name_missing_ones() -> None:
    frame = pd.DataFrame({"open": [1, 2], "close": [3.0, 4.0]})
    arrays = BarArrays.of(frame)
    assert BarArrays.of(arrays) is arrays
    close = arrays.column("close")
    assert close is arrays.column("close")
    assert close.dtype == np.float64
    assert close.flags["C_CONTIGUOUS"]
    assert arrays.column("open").dtype == np.float64
    assert len(arrays) == 2
    with pytest.raises(InputError, match="no 'high' column"):
        arrays.column("high")
