"""Parameter-sweep throughput: ai-trader vs vectorbt vs backtesting.py vs a bare njit loop, one run.

The grid is the SMA crossover on GOOG daily (backtesting.py's bundled series, 2,148 bars;
ai-trader reads the same series through its ``sample`` vendor): fast 5..49 x slow 10..99
with fast < slow, 3,230 parameter sets, commission 0.002.

* ai-trader: ``evaluate_sets`` (the batch kernel ``run_sweep`` uses: a ``numba.prange`` loop
  over sets, each building its SMA-cross target with the strategy kernel and simulating it
  with the engine kernel, 9 metrics per set), and ``run_sweep`` in-process (grid expansion,
  parameter validation, evaluation, summary.jsonl, leaderboard.csv, run.json, no frame).
* vectorbt: the idiomatic vectorised form: two ``MA.run`` calls over per-column windows,
  ``ma_crossed_above`` / ``ma_crossed_below``, ``Portfolio.from_signals`` and
  ``total_return`` (only that one metric).
* backtesting.py: ``Backtest.optimize`` with the README's SmaCross. The full grid takes
  about 47 s on this machine, so it runs on a subset and the full-grid time is extrapolated
  (stated as such in the table).
* bare loop: a plain ``@njit(parallel=True)`` loop (SMAs, cross, equity, trades, max
  drawdown) with no metrics beyond those, no validation and no outputs: the ceiling.
* the whole ``scripts/sweep_job_entry.py`` run of ``configs/backtest/sma_cross_sweep.yaml``
  (process start to exit, summary written, best frame registered), warm Numba cache.

Run: ``.venv/bin/python -m bench.bench_sweep`` (writes its section of docs/benchmarks.md).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numba import njit, prange

from bench.report import write_section

REPO = Path(__file__).resolve().parents[1]
FAST = range(5, 50)
SLOW = range(10, 100)
COMMISSION = 0.002
PAIRS = [(f, s) for f in FAST for s in SLOW if f < s]


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def goog() -> pd.DataFrame:
    from backtesting.test import GOOG

    return GOOG.copy()


# --- bare loop --------------------------------------------------------------------------------


@njit(cache=True)
def _sma_nb(close: np.ndarray, window: int, out: np.ndarray) -> None:
    total = 0.0
    for i in range(close.shape[0]):
        total += close[i]
        if i >= window:
            total -= close[i - window]
        out[i] = total / window if i >= window - 1 else np.nan


@njit(cache=True, parallel=True)
def bare_loop_nb(close: np.ndarray, fast: np.ndarray, slow: np.ndarray, fee: float, out: np.ndarray) -> None:
    n = close.shape[0]
    for k in prange(fast.shape[0]):
        f = np.empty(n)
        s = np.empty(n)
        _sma_nb(close, fast[k], f)
        _sma_nb(close, slow[k], s)
        cash = 10_000.0
        units = 0.0
        trades = 0
        peak = cash
        max_dd = 0.0
        for t in range(1, n):
            up = f[t - 1] < s[t - 1] and f[t] > s[t]
            down = f[t - 1] > s[t - 1] and f[t] < s[t]
            if up and units == 0.0:
                units = cash / (close[t] * (1.0 + fee))
                cash = 0.0
                trades += 1
            elif down and units > 0.0:
                cash = units * close[t] * (1.0 - fee)
                units = 0.0
            equity = cash + units * close[t]
            peak = max(peak, equity)
            max_dd = min(max_dd, equity / peak - 1.0)
        out[k, 0] = cash + units * close[n - 1]
        out[k, 1] = trades
        out[k, 2] = max_dd


def bench_bare(close: np.ndarray) -> float:
    fast = np.array([p[0] for p in PAIRS], dtype=np.int64)
    slow = np.array([p[1] for p in PAIRS], dtype=np.int64)
    out = np.empty((len(PAIRS), 3))
    bare_loop_nb(close, fast, slow, COMMISSION, out)
    return best_of(lambda: bare_loop_nb(close, fast, slow, COMMISSION, out), 7)


# --- ai-trader -------------------------------------------------------------------------------


def bench_ai_trader() -> tuple[float, float, float]:
    from app.backtest.sweeps import parse_sweep_config, run_sweep
    from app.backtest.sweeps.evaluate import evaluate_sets
    from app.backtest.sweeps.runner import dal_loader
    from app.bootstrap import build_market_data, build_sweep_deps
    from app.config import Settings
    from app.risk.sizing import RiskConfig

    config = parse_sweep_config((REPO / "configs/backtest/sma_cross_sweep.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, DATA_DIR=Path(tmp) / "var", ARTIFACTS_DIR=Path(tmp) / "art")  # type: ignore[call-arg]
        market = dal_loader(build_market_data(settings))(config, "GOOG")
        deps = build_sweep_deps(settings)
        risk = RiskConfig(agent="all_in", allow_short=True)
        sets = [{"fast": f, "slow": s} for f, s in PAIRS]

        def evaluate() -> None:
            evaluation = evaluate_sets(
                market, "sma_cross", sets, risk, commission=COMMISSION, initial_cash=10_000.0
            )
            assert (evaluation.status == 0).all()

        evaluate()
        kernel_s = best_of(evaluate, 7)
        counter = iter(range(100))

        def sweep() -> None:
            out = Path(tmp) / f"run{next(counter)}"
            result = run_sweep(
                config, out, settings=settings, deps=deps, loader=lambda c, s: market, write_frame=False
            )
            assert result.ok == len(PAIRS)

        sweep()
        sweep_s = best_of(sweep, 3)
    return kernel_s, sweep_s, float(len(market))


# --- peers -----------------------------------------------------------------------------------


def bench_vectorbt(data: pd.DataFrame) -> tuple[float, float]:
    import vectorbt as vbt

    close = data["Close"]
    fast = [p[0] for p in PAIRS]
    slow = [p[1] for p in PAIRS]

    def run(fast_w: list[int], slow_w: list[int]) -> None:
        fast_ma = vbt.MA.run(close, window=fast_w, short_name="fast")
        slow_ma = vbt.MA.run(close, window=slow_w, short_name="slow")
        entries = fast_ma.ma_crossed_above(slow_ma)
        exits = fast_ma.ma_crossed_below(slow_ma)
        pf = vbt.Portfolio.from_signals(close, entries, exits, fees=COMMISSION, init_cash=10_000.0, freq="1D")
        pf.total_return()

    started = time.perf_counter()
    run(fast[:4], slow[:4])
    cold = time.perf_counter() - started
    return best_of(lambda: run(fast, slow), 3), cold


def _sma(values: np.ndarray, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


def _sma_cross_class() -> type:
    from backtesting import Strategy
    from backtesting.lib import crossover

    class SmaCross(Strategy):  # the README's example, with exclusive long/short reversals
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.sma1 = self.I(_sma, self.data.Close, self.n1)
            self.sma2 = self.I(_sma, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    SmaCross.__qualname__ = "SmaCross"
    return SmaCross


SmaCross = _sma_cross_class()


def bench_backtesting(data: pd.DataFrame) -> tuple[float, int]:
    from backtesting import Backtest

    bt = Backtest(data, SmaCross, cash=10_000, commission=COMMISSION, finalize_trades=True)
    n1, n2 = range(5, 50, 4), range(10, 100, 6)
    subset = sum(1 for a in n1 for b in n2 if a < b)
    started = time.perf_counter()
    bt.optimize(n1=n1, n2=n2, constraint=lambda p: p.n1 < p.n2, maximize="Equity Final [$]")
    return time.perf_counter() - started, subset


def bench_entry_script() -> tuple[float, list[float]]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(3):
            env = {
                **os.environ,
                "SWEEP_CONFIG_PATH": "configs/backtest/sma_cross_sweep.yaml",
                "OUTPUT_DIR": str(Path(tmp) / f"out{i}"),
                "DATA_DIR": str(Path(tmp) / "var"),
                "ARTIFACTS_DIR": str(Path(tmp) / "artifacts"),
                "LOG_LEVEL": "WARNING",
            }
            started = time.perf_counter()
            subprocess.run([sys.executable, "scripts/sweep_job_entry.py"], env=env, cwd=REPO, check=True)
            times.append(time.perf_counter() - started)
            assert (Path(tmp) / f"out{i}" / "summary.jsonl").is_file()
    return statistics.median(times), times


def main() -> None:
    data = goog()
    n_sets = len(PAIRS)
    bt_subset_s, bt_subset = bench_backtesting(data)
    bt_rate = bt_subset / bt_subset_s
    vbt_s, vbt_cold = bench_vectorbt(data)
    kernel_s, sweep_s, bars = bench_ai_trader()
    bare_s = bench_bare(np.ascontiguousarray(data["Close"].to_numpy(dtype=np.float64)))
    entry_s, entry_runs = bench_entry_script()

    def rate(seconds: float) -> float:
        return n_sets / seconds

    vbt_rate, kernel_rate, sweep_rate, bare_rate = rate(vbt_s), rate(kernel_s), rate(sweep_s), rate(bare_s)
    rows = [
        ("ai-trader `evaluate_sets` (batch kernel, 9 metrics/set)", kernel_s, kernel_rate),
        ("ai-trader `run_sweep` in-process (validate + evaluate + write outputs)", sweep_s, sweep_rate),
        ("bare `@njit(parallel=True)` loop (final equity, trades, max DD)", bare_s, bare_rate),
        ("vectorbt MA x2 + crossovers + `from_signals` + `total_return`", vbt_s, vbt_rate),
        (
            f"backtesting.py `optimize` (measured on {bt_subset} sets, full grid extrapolated)",
            n_sets / bt_rate,
            bt_rate,
        ),
    ]
    lines = [
        "## Parameter sweep (SMA crossover grid)",
        "",
        f"GOOG daily, {int(bars):,} bars; fast 5..49 x slow 10..99 with fast < slow ="
        f" {n_sets:,} parameter sets; commission {COMMISSION}. Best of several warm runs;"
        " `python -m bench.bench_sweep`.",
        "",
        "| what | time for the grid | backtests/s | vs vectorbt | vs bare loop |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, seconds, per_s in rows:
        ratios = f"{per_s / vbt_rate:.1f}x | {per_s / bare_rate:.2f}x"
        lines.append(f"| {label} | {seconds * 1000:,.1f} ms | {per_s:,.0f} | {ratios} |")
    goal_vbt = "met" if kernel_rate >= 25 * vbt_rate else "missed"
    goal_bare = "met" if bare_rate <= 4 * kernel_rate else "missed"
    goal_entry = "met" if entry_s < 5.0 else "missed"
    lines += [
        "",
        f"- Goal >= 25x vectorbt with full metrics: {kernel_rate / vbt_rate:.1f}x ({goal_vbt}).",
        f"- Goal within 4x of the bare loop: bare / ai-trader = {bare_rate / kernel_rate:.2f}x"
        f" ({goal_bare}).",
        f"- `scripts/sweep_job_entry.py` on `configs/backtest/sma_cross_sweep.yaml`, process start to exit"
        f" (summary, leaderboard and best frame written; warm Numba cache): median {entry_s:.2f} s of"
        f" {', '.join(f'{t:.2f}' for t in entry_runs)} s; goal < 5 s ({goal_entry}).",
        f"- backtesting.py was timed on a {bt_subset}-set subset ({bt_subset_s:.1f} s, 2 processes) and its"
        f" full-grid time is extrapolated at that rate, not measured.",
        f"- vectorbt's first call (Numba compile, cold cache) took {vbt_cold:.1f} s and is excluded.",
        "- The machine is shared by other jobs while benchmarks run; ratios from the same run are more"
        " reliable than absolute figures.",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("sweep", text)


if __name__ == "__main__":
    main()
