"""Look-ahead and recursive-bias checks: every registered strategy passes; planted biases are caught."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from app.backtest.lookahead import check_strategy, default_warmup
from app.errors import InputError
from app.strategies import STRATEGIES, get_strategy
from app.strategies.base import BarArrays, Strategy, close_array


def _bars(n: int = 1_200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.012, n)))
    return pd.DataFrame(
        {"open": close, "high": close * 1.006, "low": close * 0.994, "close": close, "volume": 1e6},
        index=pd.date_range("2014-01-02", periods=n, freq="B", tz="UTC"),
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Peeking(Strategy):
    """Long when tomorrow's close is higher: the textbook look-ahead bug."""

    name: ClassVar[str] = "peeking"
    window: int = 5

    def validate(self) -> None:
        return None

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = close_array(bars)
        out = np.zeros_like(close)
        out[:-1] = np.where(close[1:] > close[:-1], 1.0, -1.0)
        return out


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Anchored(Strategy):
    """Long above the mean of *all* history since the data began: depends on where data starts."""

    name: ClassVar[str] = "anchored"
    window: int = 5

    def validate(self) -> None:
        return None

    def target_positions(
        self,
        bars: pd.DataFrame | BarArrays,
        signals: pd.DataFrame | None = None,
        regimes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        close = close_array(bars)
        expanding = np.cumsum(close) / np.arange(1, close.size + 1)
        return np.where(close > expanding, 1.0, -1.0)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_passes(name: str) -> None:
    result = check_strategy(get_strategy(name, {}), _bars())
    assert result.ok, result.summary()
    assert result.prefixes_checked >= 6
    assert result.truncations_checked >= 6
    assert "ok" in result.summary()


def test_a_strategy_that_peeks_at_the_next_bar_is_caught() -> None:
    result = check_strategy(_Peeking(), _bars())
    assert not result.ok
    first = result.divergences[0]
    assert first.kind == "lookahead"
    assert first.column == "position"
    # The last bar of a prefix is where the peek shows: there is no next bar to look at.
    assert first.bar == first.cut
    assert "look" in result.summary()


def test_a_strategy_anchored_to_the_start_of_the_data_is_caught() -> None:
    result = check_strategy(_Anchored(), _bars())
    assert not result.ok
    assert [d.kind for d in result.divergences] == ["recursive"]
    assert result.divergences[0].bar >= result.divergences[0].cut + result.warmup


def test_warmup_defaults_and_bounds() -> None:
    assert default_warmup(get_strategy("breakout", {"entry_window": 40})) == 120
    assert default_warmup(get_strategy("momentum", {"lookback": 2})) == 50
    with pytest.raises(InputError, match="too few"):
        check_strategy(get_strategy("momentum", {}), _bars(60))


def test_cli_check_reports_ok_as_json_and_refuses_bad_params() -> None:
    from typer.testing import CliRunner

    from app.cli.main import app

    runner = CliRunner()
    result = runner.invoke(app, ["strategy", "check", "breakout", "--json", "--checks", "4"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is True
    assert payload["bars"] == 2148  # the shipped GOOG daily sample
    assert payload["prefixes_checked"] == 4
    bad = runner.invoke(app, ["strategy", "check", "momentum", "--param", "lookback=x"])
    assert bad.exit_code == 2
    unknown = runner.invoke(app, ["strategy", "check", "nope"])
    assert unknown.exit_code == 2
