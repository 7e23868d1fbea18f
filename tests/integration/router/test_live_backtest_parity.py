"""Parity: the same bars through ``run_backtest`` and through the replayed live loop.

The live loop is the router in target mode run bar by bar under a replayed clock: after each
5-minute bar ends the clock moves to just past it, the router reads the recorded bars through
the ``replay`` vendor (nothing after now), decides on the newest completed bar, sizes the
target against the paper account's book, executes on the simulated broker and publishes to the
local bus; the order consumer's own step writes orders, fills and positions to SQLite before
the next bar. The backtest sees the whole recording at once through the same decision pipeline
(strategy, priors, regime-aware fractional Kelly) and fills at the decision bar's close, as the
simulated broker does.

What must agree, for every registered strategy:

* the target on every bar: side and Kelly fraction exactly (same pipeline, same bars);
* the position's side after every bar (long / flat), so every trade opens and closes on the
  same bar, at the same price (to the broker's 0.0001 price step);
* each trade's size: ``fraction x equity / price`` at the entry bar, to the broker's quantity
  step (rounding) and, for the first trade (both accounts start with the same cash), the
  backtest's own quantity to 1e-6 relative.

Stated differences (not compared): fees are zero on both sides; the live loop re-balances a
held position toward its moving target every bar (the band is 0 here), while the backtest
holds the entry size until the side changes (docs/backtest.md), so live orders that keep the
side are re-balances and the equity after the first trade drifts apart by their P&L.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.backtest.engine import EngineConfig, run_backtest
from app.bootstrap import Container
from app.bootstrap.wiring import build_router_risk_config
from app.decision import compute_regimes, compute_signals
from app.decision.pipeline import decide
from app.risk.sizing import QTY_STEP
from app.strategies import STRATEGIES, get_strategy
from tests.integration.router.replay_loop import BAR, CASH, PRICE_STEP, LiveBar, ReplayLoop, replay_container
from tests.replay_recording import SESSION, record_market, session_bars

pytestmark = pytest.mark.integration

LIVE_SESSIONS = 2
"""The last sessions of the recording replayed bar by bar (the earlier ones are warm-up)."""
SYMBOLS = ("AAPL", "MSFT")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parity-recording")
    record_market(root, symbols=SYMBOLS)
    return root


@pytest.fixture
def live(tmp_path: Path, recording: Path) -> Iterator[tuple[Container, Path]]:
    with replay_container(tmp_path, recording) as pair:
        yield pair


def _live_loop(
    container: Container, clock: Path, symbol: str, strategy: str, bars: pd.DataFrame, first: int
) -> list[LiveBar]:
    end = bars.index[-1] + BAR
    out: list[LiveBar] = []
    with ReplayLoop(container, clock) as loop:
        for t in range(first, len(bars)):
            loop.after(bars.index[t])
            out.append(loop.step(symbol, strategy, bars.index[t], bars.index[0], end))
    return out


def _backtest_side(trades: pd.DataFrame, target: np.ndarray) -> np.ndarray:
    """+1 / -1 / 0 held after each bar's close (close fills: entry at its bar, flat after exit).

    The last bar is the end of the data, not a decision of the engine's: it closes a position
    still open there and opens none on it (docs/backtest.md). The live loop has no end of data,
    so after the last bar the side is the one the target asks for."""
    n = len(target)
    side = np.zeros(n)
    for row in trades.itertuples():
        side[int(row.entry_bar) : int(row.exit_bar)] = 1.0 if row.side == "long" else -1.0
    side[n - 1] = np.sign(np.nan_to_num(target[n - 1]))
    return side


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_backtest_and_replayed_live_loop_agree(
    strategy: str, live: tuple[Container, Path], recording: Path
) -> None:
    container, clock = live
    risk = build_router_risk_config(container.settings)
    compared_trades = 0
    first_trade = True
    for symbol in SYMBOLS:
        bars = session_bars(symbol, SESSION)[1]  # the generator the recording was written from
        sessions = sorted(set(bars.index.tz_convert("America/New_York").date))
        first = int(np.argmax(bars.index.tz_convert("America/New_York").date >= sessions[-LIVE_SESSIONS]))
        signals = compute_signals(bars)
        regimes = compute_regimes(bars, signals)
        decisions = decide(bars, signals, regimes, get_strategy(strategy), risk)
        target = np.asarray(decisions.target, dtype=np.float64).copy()
        target[:first] = 0.0  # the live account starts flat at the first replayed bar
        backtest = run_backtest(bars, target, EngineConfig(fill="close", initial_cash=float(CASH)))
        side = _backtest_side(backtest.trades, target)

        loop = _live_loop(container, clock, symbol, strategy, bars, first)
        assert len(loop) == len(bars) - first
        for k, bar in enumerate(loop):
            t = first + k
            assert bar.fallback is None, (symbol, t, bar)
            # the target: same side and fraction as the backtest's pipeline on this bar
            want = float(decisions.target[t])
            assert bar.position == float(decisions.position[t]), (symbol, t, bar)
            got_weight = (bar.position or 0.0) * (bar.frac or 0.0)
            assert got_weight == pytest.approx(want, abs=1e-12), (symbol, t)
            # the position's side after the bar
            live_side = float(np.sign(bar.held_after))
            assert live_side == side[t], (symbol, strategy, bar.time, bar, side[max(0, t - 2) : t + 2])
        # trades: opened and closed on the same bars, at the same prices, sized alike
        for trade in backtest.trades.itertuples():
            if int(trade.exit_bar) == len(bars) - 1 and side[-1] != 0:
                continue  # the end-of-data close-out of a position still open: no live trade
            entry = loop[int(trade.entry_bar) - first]
            exit_ = loop[int(trade.exit_bar) - first]
            assert entry.buys and not entry.sells, (symbol, trade, entry)
            qty, price = entry.buys[0]
            assert abs(price - Decimal(str(trade.entry_price))) <= PRICE_STEP, (trade, entry)
            assert entry.equity is not None and entry.frac is not None
            close = Decimal(str(float(bars["close"].iloc[int(trade.entry_bar)])))
            rule = Decimal(str(entry.frac)) * Decimal(str(entry.equity)) / close
            assert Decimal(0) <= rule - qty < QTY_STEP, (trade, entry)  # rounded down to the step
            # the same fraction of the account: shares per unit of equity at the entry
            backtest_equity = float(backtest.equity.iloc[int(trade.entry_bar) - 1])
            scaled = trade.qty / backtest_equity * entry.equity
            assert abs(float(qty) - scaled) <= float(QTY_STEP) * (1 + 1e-6), (trade, entry, scaled)
            if first_trade:  # both accounts still hold their starting cash: the same shares
                assert abs(float(qty) - trade.qty) <= float(QTY_STEP) * (1 + 1e-6), (trade, entry)
                first_trade = False
            assert exit_.sells and exit_.held_after == 0, (symbol, trade, exit_)
            assert abs(exit_.sells[-1][1] - Decimal(str(trade.exit_price))) <= PRICE_STEP, (trade, exit_)
            compared_trades += 1
        # live orders beyond the trades' entries and exits only re-balance a held position
        edges = {int(r.entry_bar) for r in backtest.trades.itertuples()} | {
            int(r.exit_bar) for r in backtest.trades.itertuples()
        }
        for k, bar in enumerate(loop):
            if (bar.buys or bar.sells) and first + k not in edges:
                assert side[first + k] != 0 and bar.held_after != 0, (symbol, bar)
    assert compared_trades > 0, (
        f"{strategy} traded nothing in the replayed sessions: the parity proves nothing"
    )
