"""Portfolio backtest: 500 symbols x 10 years of daily bars on shared cash, one thread each.

Both sides trade the same target weights (random Dirichlet weights, 30 % of cells zero) on the
same closes, filled at the close, commission 0.1 % a side, 100,000 starting cash, one group
with cash sharing and call order "sells first":

* ai-trader :func:`app.backtest.portfolio.run_portfolio` (the kernel ``backtest_portfolio``
  and ``ai-trader backtest portfolio`` run) in ``cap_mode="scale"`` (equal to vectorbt's equity
  to 1e-12 in tests/unit/backtest/test_portfolio.py), with its caps set wide open (max weight
  1, gross 1, 500 positions) so it does the same work as the peer: the uncapped shared-cash case;
* vectorbt ``Portfolio.from_orders(size_type='targetpercent', group_by=True,
  cash_sharing=True, call_seq='auto')`` and its ``value()``.

Also timed, with no peer: the default ``cap_mode="governor"`` (the live governor's whole-order
refusals, symbols routed one after another) on the same weights with caps that bind (max
weight 0.25 is above every weight here, gross 0.6, 20 positions), the goal applying to it too.

Run as part of ``python -m bench`` (or ``python -m bench --only portfolio``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bench.report import Goal, Section
from bench.timing import interleaved, numba_threads

SYMBOLS = 500
BARS = 2_520  # 10 years of trading days
GOAL_S = 2.0


def market(symbols: int, bars: int) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, (bars, symbols)), axis=0))
    weights = rng.dirichlet(np.ones(symbols), size=bars) * 0.95
    weights[rng.uniform(size=weights.shape) < 0.3] = 0.0
    index = pd.date_range("2015-01-02", periods=bars, freq="B", tz="UTC")
    return index, close, weights


def run(quick: bool = False) -> Section:
    from app.backtest.portfolio import PortfolioLimits, run_portfolio

    symbols = 100 if quick else SYMBOLS
    index, close, weights = market(symbols, BARS)
    names = tuple(f"S{k:03d}" for k in range(symbols))
    limits = PortfolioLimits(max_weight=1.0, max_gross=1.0, max_positions=symbols, cap_mode="scale")
    governor = PortfolioLimits(max_weight=0.25, max_gross=0.6, max_positions=20)
    outputs: dict[str, np.ndarray] = {}

    def ours() -> None:
        result = run_portfolio(index, names, close, close, weights, limits, commission=0.001, fill_close=True)
        outputs["ours"] = result.equity
        outputs["ours_fills"] = np.array([len(result.fills)])

    def governed() -> None:
        result = run_portfolio(
            index, names, close, close, weights, governor, commission=0.001, fill_close=True
        )
        assert result.refusals is not None
        outputs["governed"] = np.array([len(result.fills), int(np.count_nonzero(result.refusals))])

    close_frame = pd.DataFrame(close, index=index.tz_localize(None))
    size_frame = pd.DataFrame(weights, index=index.tz_localize(None))

    def theirs() -> None:
        import vectorbt as vbt

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            portfolio = vbt.Portfolio.from_orders(
                close_frame,
                size=size_frame,
                size_type="targetpercent",
                group_by=True,
                cash_sharing=True,
                call_seq="auto",
                fees=0.001,
                init_cash=100_000.0,
                freq="1D",
            )
            outputs["theirs"] = portfolio.value().to_numpy()
            outputs["theirs_fills"] = np.array([int(portfolio.orders.count())])

    with numba_threads(1):
        stats = interleaved(
            {"ai-trader": ours, "vectorbt": theirs, "governor": governed}, rounds=3 if quick else 5, warmup=1
        )
    gap = float(np.max(np.abs(outputs["ours"] / outputs["theirs"] - 1.0)))
    fills = int(outputs["ours_fills"][0])
    same_fills = fills == int(outputs["theirs_fills"][0])
    ratio = stats["vectorbt"].median / stats["ai-trader"].median
    met = stats["ai-trader"].median < GOAL_S
    governed_met = stats["governor"].median < GOAL_S
    governed_fills, refused = (int(x) for x in outputs["governed"])
    lines = [
        f"{symbols} symbols x {BARS:,} daily bars (10 years), random target weights, close fills, "
        "0.1 % commission, one shared pool of 100,000 cash; one thread each (median of interleaved "
        "rounds after a warm-up, (min-max) beside it).",
        "",
        "| side | time | CPU | fills |",
        "|---|---:|---:|---:|",
        f"| ai-trader `run_portfolio`, cap mode `scale`, caps open | {stats['ai-trader'].cell()} | "
        f"{stats['ai-trader'].cpu_cell()} | {fills:,} |",
        f"| vectorbt `Portfolio.from_orders` targetpercent, grouped, cash sharing + `value()` | "
        f"{stats['vectorbt'].cell()} | {stats['vectorbt'].cpu_cell()} | "
        f"{int(outputs['theirs_fills'][0]):,} |",
        f"| ai-trader `run_portfolio`, cap mode `governor` (default), gross 0.6, 20 positions "
        f"({refused:,} orders refused) | {stats['governor'].cell()} | {stats['governor'].cpu_cell()} | "
        f"{governed_fills:,} |",
        "",
        f"Equity agreement: largest relative difference {gap:.1e}; same number of fills: {same_fills}. "
        f"Speed-up over vectorbt: {ratio:.1f}x. Goal (< {GOAL_S:.0f} s on one thread): "
        f"**{'met' if met else 'NOT met'}** ({stats['ai-trader'].median:.2f} s).",
    ]
    return Section(
        name="portfolio",
        title="Portfolio backtest (500 symbols x 10 years, shared cash)",
        body="\n".join(lines),
        ratios={"portfolio.vectorbt_over_ours": ratio},
        goals=[
            Goal("portfolio 500 x 10 y under 2 s (1 thread)", f"{stats['ai-trader'].median:.2f} s", met),
            Goal(
                "portfolio 500 x 10 y, governor caps, under 2 s (1 thread)",
                f"{stats['governor'].median:.2f} s",
                governed_met,
            ),
        ],
    )


if __name__ == "__main__":
    print(run().body)
