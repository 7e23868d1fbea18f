"""``python -m app.backtest.precompile``: compile every cached Numba kernel ahead of time.

A fresh container starts with an empty Numba cache, and compiling the backtest, sweep, DAL
and priors kernels costs seconds on the first run. This command runs the code paths the
runbook commands take (single backtests of every strategy with each sizing family,
the DAL's signals and regimes, the synthetic vendor, every batch sweep kernel, the
decision-path sweep and the multi-symbol portfolio engine) on small synthetic data, so each
``@njit(cache=True)`` kernel is compiled for the argument types those paths use and written to
the cache. An image build
runs it once; the processes started from the image then load machine code instead of
compiling it.

Cache portability (see Numba's notes on caching): a cache entry is keyed by the kernel's
signature and the target CPU, and it is only used when the source file it came from still has
the same path and modification time. So:

* run it after the application sources are in their final place in the image, and do not
  touch them afterwards;
* set ``NUMBA_CACHE_DIR`` to a directory inside the image (the same value at build and run);
* set ``NUMBA_CPU_NAME=generic`` at build **and** at run, so the code targets a generic x86-64
  CPU instead of the build machine's and is valid on whatever host runs the container (without
  it, a host with another CPU model misses the cache and compiles again).

Exit codes: 0 when every kernel of the listed modules has at least one compiled signature,
1 when some kernel was left uncompiled (named on stderr) or a run failed, 2 when Numba's JIT
is disabled (nothing could be cached).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["KERNEL_MODULES", "compile_all", "main", "uncompiled_kernels"]

log = logging.getLogger("app.workers.precompile")

# every module that defines @njit(cache=True) kernels on the runbook's paths
KERNEL_MODULES = (
    "app.backtest.engine",
    "app.backtest.portfolio",
    "app.backtest.sweeps.kernels",
    "app.strategies.kernels",
    "app.decision.signals",
    "app.decision.regimes",
    "app.strategies.sma_cross",
    "app.strategies.momentum",
    "app.strategies.mean_reversion",
    "app.strategies.breakout",
    "app.dal.synthetic",
    "app.risk.priors",
)


def _dispatchers(module_name: str) -> list[tuple[str, Any]]:
    from numba.core.registry import CPUDispatcher

    module = importlib.import_module(module_name)
    found = []
    for name, value in vars(module).items():
        if isinstance(value, CPUDispatcher) and value.__module__ == module_name:
            found.append((f"{module_name}.{name}", value))
    return found


def uncompiled_kernels(modules: Sequence[str] = KERNEL_MODULES) -> list[str]:
    """Kernels of ``modules`` with no compiled signature in this process.

    Kernels declared ``inline="always"`` are compiled into their callers, not on their own, so
    they are not listed.
    """
    return [
        name
        for module in modules
        for name, fn in _dispatchers(module)
        if not fn.signatures and fn.targetoptions.get("inline") != "always"
    ]


def _single_runs(root: Path) -> int:
    from app.backtest.service import BacktestRequest, run_request
    from app.bootstrap import Container, scratch_settings
    from app.strategies import STRATEGIES

    container = Container(scratch_settings(root))
    runs = 0
    sizing: list[dict[str, Any]] = [
        {"risk_agent": "all_in"},
        {"risk_agent": "fixed_fraction", "regime_aware_sizing": True, "allow_short": True},
        {
            "risk_agent": "fractional_kelly",
            "risk_agent_fraction": 0.4,
            "regime_aware_sizing": True,
            "use_probabilistic": True,
        },
    ]
    for strategy in sorted(STRATEGIES):
        for options in sizing:
            for fill in ("next_open", "close"):
                request = BacktestRequest(
                    symbol="AAPL",
                    start=date(2023, 1, 3),
                    end=date(2023, 3, 3),
                    strategy=strategy,
                    dal_vendor="synthetic",
                    dal_interval="1Day",
                    fill=fill,
                    commission=0.001,
                    **options,
                )
                run_request(container.settings, request, container.backtest_deps, source="cli")
                runs += 1
    container.close()
    return runs


def _sweeps(root: Path) -> int:
    from app.backtest.sweeps.evaluate import MarketArrays, evaluate_sets, has_batch_kernel
    from app.bootstrap import build_market_data, scratch_settings
    from app.decision import compute_regimes, compute_signals
    from app.risk.sizing import RiskConfig
    from app.strategies import STRATEGIES, get_strategy

    fetched = build_market_data(scratch_settings(root)).fetch(
        "synthetic", "AAPL", date(2022, 1, 3), date(2023, 3, 3), interval="1Day"
    )
    bars = fetched.bars
    signals = compute_signals(bars)
    market = MarketArrays.from_frames("AAPL", bars, signals, compute_regimes(bars, signals))
    _generic_batch(market)
    calls = 0
    for strategy in sorted(STRATEGIES):
        defaults = get_strategy(strategy).params()
        sets = [defaults, defaults]
        risks = [
            RiskConfig(agent="all_in", allow_short=True),
            RiskConfig(agent="fixed_fraction", regime_aware=True),
            RiskConfig(agent="fractional_kelly", fraction=0.4, regime_aware=True),
        ]
        for risk in risks:
            for fill in ("next_open", "close"):
                evaluate_sets(
                    market, strategy, sets, risk, fill=fill, commission=0.001, initial_cash=10_000.0
                )
                calls += 1
        if not has_batch_kernel(strategy):
            log.info("strategy %s has no batch kernel; the decision path covers it", strategy)
    return calls


def _portfolio(root: Path) -> int:
    from app.backtest.portfolio import PortfolioLimits, backtest_portfolio
    from app.bootstrap import build_market_data, scratch_settings
    from app.risk.sizing import RiskConfig
    from app.strategies import get_strategy

    market = build_market_data(scratch_settings(root))
    bars = {
        symbol: market.fetch("synthetic", symbol, date(2023, 1, 3), date(2023, 3, 3), interval="1Day").bars
        for symbol in ("AAPL", "MSFT")
    }
    runs = 0
    for fill_close in (False, True):
        backtest_portfolio(
            bars,
            get_strategy("momentum"),
            RiskConfig(agent="fixed_fraction", allow_short=True),
            PortfolioLimits(),
            commission=0.001,
            fill_close=fill_close,
        )
        runs += 1
    return runs


def _public_kernels() -> None:
    """Kernels exported for callers that compose their own targets (no runbook path calls them)."""
    import numpy as np

    from app.strategies.kernels import cross_target_nb

    values = np.linspace(1.0, 2.0, 8)
    cross_target_nb(values, values[::-1].copy(), np.empty(8))


def _generic_batch(market: Any) -> None:
    """The crossover's per-set target through the generic batch loop (its sweeps take the fused one)."""
    import numpy as np

    from app.backtest.sweeps import kernels
    from app.strategies import BarArrays, get_strategy

    cls = type(get_strategy("sma_cross"))
    kernel = cls.batch
    if kernel is None:
        return
    bars = BarArrays.with_columns(
        market.bars, {"open": market.open, "high": market.high, "low": market.low, "close": market.close}
    )
    sets = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 30}]
    inputs = kernel.prepare(bars, cls.param_columns(sets))
    scale = np.ones(len(market))
    kernels.strategy_batch_nb(
        kernel.target, market.open, market.high, market.low, market.close, inputs.tables, inputs.ints,
        inputs.floats, scale, scale, True, False,
        np.array([0.001, 0.0, 10_000.0, 252.0, 1.0]), np.empty((2, 9)), np.zeros(2, dtype=np.int64),
    )  # fmt: skip


def compile_all(root: Path) -> dict[str, Any]:
    """Run the runbook's kernel paths on synthetic data under ``root``; return what was done."""
    started = time.perf_counter()
    runs = _single_runs(root)
    sweeps = _sweeps(root)
    portfolios = _portfolio(root)
    _public_kernels()
    return {
        "single_runs": runs,
        "sweep_calls": sweeps,
        "portfolio_runs": portfolios,
        "seconds": time.perf_counter() - started,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.backtest.precompile",
        description="Compile every cached Numba kernel into NUMBA_CACHE_DIR (run once in an image build).",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    from numba import config as numba_config

    if getattr(numba_config, "DISABLE_JIT", False):
        sys.stderr.write("error: NUMBA_DISABLE_JIT is set; nothing can be compiled or cached\n")
        return 2
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="ai-trader-precompile-") as tmp:
        done = compile_all(Path(tmp))
    missing = uncompiled_kernels()
    cache_dir = os.environ.get("NUMBA_CACHE_DIR") or "(next to the sources, in __pycache__)"
    cpu = os.environ.get("NUMBA_CPU_NAME") or "host (not portable: set NUMBA_CPU_NAME=generic)"
    if missing:
        sys.stderr.write("error: kernels left uncompiled: " + ", ".join(missing) + "\n")
        return 1
    if not args.quiet:
        sys.stdout.write(
            f"compiled every kernel of {len(KERNEL_MODULES)} modules in {done['seconds']:.1f} s"
            f" ({done['single_runs']} backtests, {done['sweep_calls']} sweep evaluations);"
            f" cache: {cache_dir}; CPU target: {cpu}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
