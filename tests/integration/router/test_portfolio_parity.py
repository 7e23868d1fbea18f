"""Parity: a portfolio backtest and the replayed live loop trading a watchlist on shared cash.

The live loop (:mod:`tests.integration.router.replay_loop`) routes every symbol on each
5-minute bar in one routing pass, in watchlist order, all against ONE paper account: each
symbol's target is ``side x frac x equity / price`` with the account's equity, so what one
symbol holds changes what the others are sized at. Before any symbol is sized, the pass marks
the paper account at every symbol's newest completed close (so the account is valued at this
bar's closes for every symbol, whether routed before or after), and the governor values the
book at the broker's marks. The portfolio backtest
(:func:`app.backtest.portfolio.backtest_portfolio`, governor cap mode) runs the same decision
pipeline on the same bars and routes the symbols in the same order with the same marks,
filling at the decision bar's close as the simulated broker does.

Set-up that both sides share: no fees, no slippage, no rebalance band. Two cases:

* caps that never bind (every strategy): no governor limit live, the backtest's caps out of
  reach (each weight is at most ``RISK_MAX_POSITION_FRACTION``, 0.25, so four symbols never
  ask for more than the account's equity and no buy is refused for cash); no order is refused
  on either side;
* binding caps: ``RISK_MAX_OPEN_POSITIONS`` / ``RISK_MAX_GROSS_EXPOSURE`` /
  ``RISK_MAX_SYMBOL_WEIGHT`` set live and the same numbers as the backtest's
  ``max_positions`` / ``max_gross`` / ``max_weight``: the governor refuses whole orders, and
  the orders refused live are exactly those the backtest refuses (same bar, symbol, reason).

What must agree, after every bar and for every symbol:

* the target weight (side x Kelly fraction): exactly (the same pipeline on the same bars);
* refusals: a live run refused by the governor is a backtest refusal of the same bar, symbol
  and reason, and the other way round;
* entries and exits (flat -> held, held -> flat): on the same bars, at the same price (the
  broker's fill is the close at its 0.0001 price step);
* every live order is one the backtest makes on the same bar and symbol, of the same size;
* the holding, cash and total equity, within the bounds of the two stated differences below.

Stated differences (by design), and the tolerances they give:

* quantities: the live target and order are rounded down to the broker's quantity step
  (1e-6 share), the backtest trades continuous quantities. So a live holding is the
  backtest's less at most two steps (one for its own rounding, one for the order's), and the
  backtest also re-balances by less than that, which the live loop skips as ``on target``;
* prices: the simulated broker fills at the close rounded to its 0.0001 price step but marks
  the account at the close itself, the backtest fills at the close. Each live fill moves the
  account's cash, and so its equity, by ``qty x (fill price - close)`` against the
  backtest's: after bar k the two equities differ by at most the sum of ``|qty x (fill price
  - close)|`` over the live fills so far (the *price budget*, a few cents over two sessions),
  and every target sized on that equity by the same fraction of it. Holdings: two steps plus
  ``holding x budget / equity``; equity: the budget (plus 1e-4 for the P&L of the rounded
  quantities); cash: the equity's bound plus the holdings' bound valued at the close.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.backtest.portfolio import REFUSAL_REASONS, PortfolioLimits, PortfolioResult, backtest_portfolio
from app.bootstrap import Container
from app.bootstrap.wiring import build_router_risk_config
from app.execution.simulated import SimulatedBroker
from app.risk.sizing import QTY_STEP
from app.strategies import STRATEGIES, get_strategy
from tests.integration.router.replay_loop import BAR, CASH, PRICE_STEP, LiveBar, ReplayLoop, replay_container
from tests.replay_recording import SESSION, record_market, session_bars

pytestmark = pytest.mark.integration

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN")
"""Two rallies, a crash and a slide on the replayed session (tests.replay_recording)."""
LIVE_SESSIONS = 2
STEP = float(QTY_STEP)
ROUNDED = 1e-4
"""Money: the P&L of the quantities' rounding (two steps of four symbols over a bar's move)."""
LIMITS = PortfolioLimits(max_weight=1.0, max_gross=10.0, max_positions=len(SYMBOLS), max_drawdown=1.0)
"""Caps that never bind here (see the module docstring); the test checks that they do not."""
BROKER_REFUSAL = {"insufficient_buying_power": "broker_rejected"}
"""The backtest's refusal names the live loop reports under another name."""


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("portfolio-parity-recording")
    record_market(root, symbols=SYMBOLS)
    return root


def _bars() -> tuple[dict[str, pd.DataFrame], pd.DatetimeIndex, int]:
    bars = {symbol: session_bars(symbol, SESSION)[1] for symbol in SYMBOLS}
    index = pd.DatetimeIndex(bars[SYMBOLS[0]].index)
    assert all(frame.index.equals(index) for frame in bars.values())
    sessions = sorted(set(index.tz_convert("America/New_York").date))
    first = int(np.argmax(index.tz_convert("America/New_York").date >= sessions[-LIVE_SESSIONS]))
    return bars, index, first


def _live_portfolio(
    container: Container, clock: Path, strategy: str, bars: dict[str, pd.DataFrame], first: int
) -> tuple[list[dict[str, LiveBar]], np.ndarray, np.ndarray]:
    """Per replayed bar: each symbol's run, then the account's cash and equity after the bar."""
    broker = container.broker
    assert isinstance(broker, SimulatedBroker)  # marked by the router itself, never by this test
    index = bars[SYMBOLS[0]].index
    end = index[-1] + BAR
    runs: list[dict[str, LiveBar]] = []
    cash, equity = [], []
    with ReplayLoop(container, clock) as loop:
        for t in range(first, len(index)):
            loop.after(index[t])
            runs.append(loop.route(SYMBOLS, strategy, index[t], index[0], end))
            account = broker.get_account()
            cash.append(float(account.cash))
            equity.append(float(account.equity))
    return runs, np.array(cash), np.array(equity)


def _edges(held: np.ndarray) -> tuple[set[int], set[int]]:
    """Bars where a holding opens (flat before, held after) and closes (held before, flat after)."""
    before = np.concatenate(([0.0], held[:-1]))
    opens = {int(t) for t in np.flatnonzero((before == 0) & (held != 0))}
    closes = {int(t) for t in np.flatnonzero((before != 0) & (held == 0))}
    return opens, closes


def _run_both(
    strategy: str, tmp_path: Path, recording: Path, limits: PortfolioLimits, **overrides: Any
) -> tuple[PortfolioResult, list[dict[str, LiveBar]], np.ndarray, np.ndarray, int]:
    bars, index, first = _bars()
    with replay_container(tmp_path, recording, **overrides) as (container, clock):
        risk = build_router_risk_config(container.settings)
        assert risk.max_position_fraction <= 0.25
        backtest = backtest_portfolio(
            bars,
            get_strategy(strategy),
            risk,
            limits,
            initial_cash=float(CASH),
            fill_close=True,
            trade_from=index[first],
        )
        runs, live_cash, live_equity = _live_portfolio(container, clock, strategy, bars, first)
    return backtest, runs, live_cash, live_equity, first


def _refusals(backtest: PortfolioResult, runs: list[dict[str, LiveBar]]) -> tuple[set[Any], set[Any]]:
    """(bar, symbol, reason) of every refused order: the live loop's and the backtest's."""
    assert backtest.refusals is not None
    live = {
        (k, s, run.fallback)
        for k, bar in enumerate(runs)
        for s, run in bar.items()
        if run.fallback is not None
    }
    rows, cols = np.nonzero(backtest.refusals)
    mine = set()
    for k, j in zip(rows.tolist(), cols.tolist(), strict=True):
        reason = REFUSAL_REASONS[int(backtest.refusals[k, j])]
        mine.add((k, SYMBOLS[j], BROKER_REFUSAL.get(reason, reason)))
    return live, mine


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_portfolio_backtest_and_replayed_live_loop_agree(
    strategy: str, tmp_path: Path, recording: Path
) -> None:
    backtest, runs, live_cash, live_equity, first = _run_both(strategy, tmp_path, recording, LIMITS)
    live_refused, refused = _refusals(backtest, runs)
    assert live_refused == refused == set()  # the caps never bind: nothing refused either side
    targets = np.nan_to_num(backtest.targets)
    assert np.abs(targets).sum(axis=1).max() <= LIMITS.max_gross
    _compare(strategy, backtest, runs, live_cash, live_equity, first)


BINDING = {
    "positions-and-gross": (
        PortfolioLimits(max_weight=1.0, max_gross=0.45, max_positions=2),
        {"RISK_MAX_OPEN_POSITIONS": 2, "RISK_MAX_GROSS_EXPOSURE": 0.45},
    ),
    "symbol-weight": (
        PortfolioLimits(max_weight=0.2, max_gross=10.0, max_positions=len(SYMBOLS)),
        {"RISK_MAX_SYMBOL_WEIGHT": 0.2},
    ),
}


@pytest.mark.parametrize("case", sorted(BINDING))
@pytest.mark.parametrize("strategy", ["momentum", "breakout"])
def test_binding_caps_refuse_the_same_orders_live_and_in_the_backtest(
    strategy: str, case: str, tmp_path: Path, recording: Path
) -> None:
    limits, overrides = BINDING[case]
    backtest, runs, live_cash, live_equity, first = _run_both(
        strategy, tmp_path, recording, limits, **overrides
    )
    live_refused, refused = _refusals(backtest, runs)
    assert live_refused == refused, (sorted(live_refused - refused), sorted(refused - live_refused))
    assert refused, f"{strategy}/{case}: no order refused, the caps do not bind"
    held = np.count_nonzero(backtest.holdings, axis=1)
    assert held.max() <= limits.max_positions
    _compare(strategy, backtest, runs, live_cash, live_equity, first)


def _compare(
    strategy: str,
    backtest: PortfolioResult,
    runs: list[dict[str, LiveBar]],
    live_cash: np.ndarray,
    live_equity: np.ndarray,
    first: int,
) -> None:
    bars, index, _ = _bars()
    n = len(index) - first
    assert len(runs) == n == len(backtest.index)
    assert backtest.targets is not None and backtest.reducing_since is None
    targets = np.nan_to_num(backtest.targets)
    assert np.abs(targets).max() <= 0.25 + 1e-12
    close = np.column_stack([bars[s]["close"].to_numpy(dtype=np.float64)[first:] for s in SYMBOLS])
    fills = backtest.fills  # bar, symbol, signed qty, price, fee

    live_held = np.array([[float(runs[k][s].held_after) for s in SYMBOLS] for k in range(n)])
    # the price budget: what the broker's price step moved the live cash by, so far
    rounding = np.array(
        [
            sum(
                float(q) * abs(float(p) - close[k, j])
                for j, s in enumerate(SYMBOLS)
                for q, p in runs[k][s].buys + runs[k][s].sells
            )
            for k in range(n)
        ]
    )
    budget = np.cumsum(rounding)
    assert budget[-1] < 1.0, budget[-1]  # cents: the comparison below stays tight
    qty_tolerance = 2 * STEP + backtest.holdings * (budget / backtest.equity)[:, None]
    compared_edges = 0
    for j, symbol in enumerate(SYMBOLS):
        for k in range(n):
            run = runs[k][symbol]
            where = (symbol, strategy, run.time)
            # the target: the same side and fraction as the backtest's pipeline on this bar
            weight = (run.position or 0.0) * (run.frac or 0.0)
            assert weight == pytest.approx(targets[k, j], abs=1e-12), where
            # the holding after the bar: the backtest's, rounded down to the quantity step
            gap = backtest.holdings[k, j] - live_held[k, j]
            slack = qty_tolerance[k, j] - 2 * STEP
            assert -slack - 1e-12 <= gap <= qty_tolerance[k, j], (
                *where,
                backtest.holdings[k, j],
                live_held[k, j],
            )
            # every live order is one the backtest makes too, of the same size
            live_order = sum(q for q, _ in run.buys) - sum(q for q, _ in run.sells)
            mine = fills[(fills[:, 0] == k) & (fills[:, 1] == j)]
            order_tolerance = qty_tolerance[k, j] + (qty_tolerance[k - 1, j] if k else 0.0)
            if live_order != 0:
                assert len(mine) == 1, (*where, run, mine)
                assert abs(float(live_order) - mine[0, 2]) <= order_tolerance, (*where, live_order, mine)
                for _, price in run.buys + run.sells:
                    assert abs(price - Decimal(str(mine[0, 3]))) <= PRICE_STEP, (*where, price, mine)
            elif len(mine):  # a re-balance within the rounding is the backtest's alone
                assert abs(mine[0, 2]) <= order_tolerance, (*where, mine)
        # entries and exits: the same bars, at the bar's close
        live_opens, live_closes = _edges(live_held[:, j])
        held = np.where(backtest.holdings[:, j] > qty_tolerance[:, j], backtest.holdings[:, j], 0.0)
        assert _edges(held) == (live_opens, live_closes), (symbol, strategy)
        for k in live_opens | live_closes:
            price = Decimal(str(close[k, j]))
            run = runs[k][symbol]
            assert run.buys or run.sells, (symbol, k, run)
            assert all(abs(p - price) <= PRICE_STEP for _, p in run.buys + run.sells), (symbol, k, run)
        compared_edges += len(live_opens) + len(live_closes)
    # total equity and cash after every bar
    equity_gap = np.abs(live_equity - backtest.equity)
    assert (equity_gap <= budget + ROUNDED).all(), (equity_gap - budget).max()
    bt_cash = backtest.equity - (backtest.holdings * close).sum(axis=1)
    cash_gap = np.abs(live_cash - bt_cash)
    assert (cash_gap <= budget + ROUNDED + (qty_tolerance * close).sum(axis=1)).all(), cash_gap.max()
    # the account really was shared: at some bar two or more symbols were held at once
    assert (np.count_nonzero(live_held, axis=1) >= 2).any(), f"{strategy}: never held two symbols at once"
    assert compared_edges > 0, (
        f"{strategy} traded nothing in the replayed sessions: the parity proves nothing"
    )
