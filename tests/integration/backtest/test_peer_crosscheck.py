"""Cross-checks against the tools quants already trust: backtesting.py and vectorbt, on real GOOG bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.backtest.engine import EngineConfig, run_backtest
from app.decision.pipeline import decide
from app.risk import RiskConfig
from app.strategies import get_strategy

GOOG = Path(__file__).resolve().parents[3] / "app" / "dal" / "data" / "GOOG.csv"


@pytest.fixture(scope="module")
def goog_raw() -> pd.DataFrame:
    return pd.read_csv(GOOG, index_col=0, parse_dates=True)


@pytest.fixture(scope="module")
def goog(goog_raw: pd.DataFrame) -> pd.DataFrame:
    bars = goog_raw.rename(columns=str.lower).astype(float)
    bars.index = bars.index.tz_localize("UTC").rename("timestamp")
    return bars


@pytest.fixture(scope="module")
def vbt() -> Any:
    import vectorbt

    return vectorbt


def _sma_target(goog: pd.DataFrame, allow_short: bool) -> np.ndarray:
    frame = decide(
        goog,
        None,
        None,
        get_strategy("sma_cross", {"fast": 10, "slow": 20}),
        RiskConfig(allow_short=allow_short),
    )
    return frame.target


def test_sma_cross_trades_match_backtesting_py_smacross(goog_raw: pd.DataFrame, goog: pd.DataFrame) -> None:
    from backtesting import Backtest, Strategy

    class SmaCross(Strategy):  # backtesting.py's README example, with sma_cross's state-based rule
        def init(self) -> None:
            close = pd.Series(self.data.Close)
            self.sma1 = self.I(lambda: close.rolling(10).mean().to_numpy())
            self.sma2 = self.I(lambda: close.rolling(20).mean().to_numpy())

        def next(self) -> None:  # called once both means exist
            fast, slow = self.sma1[-1], self.sma2[-1]
            if fast > slow:
                if not self.position.is_long:
                    self.buy()
            elif fast < slow:
                if not self.position.is_short:
                    self.sell()
            elif self.position:
                self.position.close()

    peer = (
        Backtest(
            goog_raw, SmaCross, cash=1_000_000, commission=0.0, exclusive_orders=True, finalize_trades=True
        )
        .run()
        ._trades
    )
    ours = run_backtest(
        goog, _sma_target(goog, True), EngineConfig(commission=0.0, initial_cash=1_000_000)
    ).trades

    assert len(ours) == len(peer) > 50
    # backtesting.py first calls next() one bar after its indicators are warm, so its first
    # entry fills one bar after ours (the slow mean's first bar decides, the next open fills);
    # every later trade is the same
    assert ours.entry_bar.iloc[0] == 20 and peer.EntryBar.iloc[0] == 21
    np.testing.assert_array_equal(ours.entry_bar.iloc[1:], peer.EntryBar.iloc[1:])
    np.testing.assert_array_equal(ours.exit_bar, peer.ExitBar)
    np.testing.assert_array_equal(ours.entry_price.iloc[1:], peer.EntryPrice.iloc[1:])
    np.testing.assert_array_equal(ours.side, np.where(peer.Size > 0, "long", "short"))
    # every exit but the last is a next-open fill, identical in both
    np.testing.assert_array_equal(ours.exit_price.iloc[:-1], peer.ExitPrice.iloc[:-1])
    # the position still open at the end: we close at the last close (documented convention),
    # backtesting.py's finalize_trades at the last bar's open
    assert ours.exit_price.iloc[-1] == goog.close.iloc[-1]
    assert peer.ExitPrice.iloc[-1] == goog.open.iloc[-1]


@pytest.mark.parametrize("allow_short", [False, True])
def test_final_equity_matches_vectorbt_from_signals(goog: pd.DataFrame, vbt: Any, allow_short: bool) -> None:
    fee = 0.002
    target = _sma_target(goog, allow_short)
    ours = run_backtest(goog, target, EngineConfig(commission=fee, initial_cash=10_000.0))

    # vectorbt fills at `price` on the signal's bar: shift decisions one bar, fill at the open
    side = np.sign(target)
    held = np.r_[0.0, side[:-1]]
    before = np.r_[0.0, held[:-1]]
    portfolio = vbt.Portfolio.from_signals(
        goog.close,
        entries=(held == 1) & (before != 1),
        exits=(held == 0) & (before == 1),
        short_entries=(held == -1) & (before != -1),
        short_exits=(held == 0) & (before == -1),
        price=goog.open,
        fees=fee,
        size=np.inf,
        init_cash=10_000.0,
        freq="1D",
    )
    value = portfolio.value().to_numpy()
    # vectorbt leaves the last position open; we close it at the last close, paying the fee
    still_open = abs(float(portfolio.assets().iloc[-1]))
    expected_final = value[-1] - still_open * goog.close.iloc[-1] * fee
    assert ours.final_equity == pytest.approx(expected_final, rel=1e-9)
    np.testing.assert_allclose(ours.equity.to_numpy()[:-1], value[:-1], rtol=1e-9)
    assert ours.num_trades == int(portfolio.trades.count())
