"""``python -m app.backtest.precompile``: fill the Numba cache with every kernel the app runs.

Every ``@njit(cache=True)`` kernel compiles on its first call in a process whose cache does not
hold it yet (seconds per kernel). The image runs this once at build time, so a fresh container's
first backtest or sweep loads object code instead of compiling.

The kernels are compiled through the production code paths, not with hand-made arguments: one
backtest per strategy (the runbook's probabilistic run and a plain one) and one small sweep per
strategy (batch kernels, and the per-set path that needs priors) on synthetic bars. That way the
cache holds exactly the signatures production calls (dtypes, layouts, read-only arrays).
Afterwards every kernel in :data:`KERNEL_MODULES` must have at least one compiled signature; a
kernel that none of these runs reached fails the command (exit 1) with its name.

``--check`` runs the same work and fails (exit 1) when any kernel had to be compiled instead of
loaded from the cache: the check that a shipped cache is complete and usable on this machine.

The cache goes to ``NUMBA_CACHE_DIR`` (required: without it Numba writes next to the installed
sources). Entries are found by the source file's path and used only while that file's contents
are unchanged (Numba stores a hash of the source), so run this after the package is in its final
place. Set ``NUMBA_CPU_NAME=generic`` both when building and when running: Numba keys cached code
by CPU name and features, so a cache built for the build machine's CPU is ignored on another
model; ``generic`` code runs on any x86-64 and its key is the same everywhere. Nothing else is
written outside a temporary folder, which is removed afterwards.

Exit codes: 0 done; 1 a kernel left uncompiled, or (``--check``) compiled instead of loaded;
2 bad usage, no ``NUMBA_CACHE_DIR``, or Numba's JIT disabled (nothing can be cached).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["KERNEL_MODULES", "KernelState", "compile_all", "kernels", "main", "uncompiled_kernels", "warm"]

KERNEL_MODULES: tuple[str, ...] = (
    "app.backtest.engine",
    "app.backtest.overfitting",
    "app.backtest.portfolio",
    "app.backtest.sweeps.kernels",
    "app.dal.synthetic",
    "app.decision.regimes",
    "app.decision.signals",
    "app.risk.priors",
    "app.strategies.breakout",
    "app.strategies.kernels",
    "app.strategies.mean_reversion",
    "app.strategies.momentum",
    "app.strategies.sma_cross",
)
"""Every module that defines a Numba kernel (a unit test keeps this list complete)."""

_STRATEGIES: tuple[str, ...] = ("momentum", "mean_reversion", "breakout", "sma_cross")

# Small grids: enough sets to reach each batch kernel, few enough to take a second.
_SWEEP_PARAMS: dict[str, str] = {
    "momentum": "lookback: [5, 20]\n  threshold: [0.0, 0.02]",
    "mean_reversion": "window: [10, 20]\n  entry_z: [1.5]\n  exit_z: [0.0]",
    "breakout": "entry_window: [20, 40]\n  exit_window: [10]",
    "sma_cross": "fast: [5, 10]\n  slow: [30, 50]",
}

log = logging.getLogger("app.workers.precompile")


@dataclass(frozen=True, slots=True)
class KernelState:
    """One kernel after the warm-up: its compiled signatures and where they came from."""

    name: str
    signatures: int
    cache_hits: int
    cache_misses: int
    on_disk: bool
    """The kernel's cache index exists (a kernel called only from other kernels is linked into
    their cached code and is never loaded on its own when they come from the cache)."""


def _dispatchers(modules: Sequence[str] = KERNEL_MODULES) -> Iterator[tuple[str, Any]]:
    from numba.core.dispatcher import Dispatcher

    for module_name in modules:
        module = importlib.import_module(module_name)
        for attr, value in sorted(vars(module).items()):
            if not isinstance(value, Dispatcher) or value.py_func.__module__ != module_name:
                continue
            if value.targetoptions.get("inline") == "always":
                continue  # compiled into its callers' machine code, never on its own
            yield f"{module_name}.{attr}", value


def _index_exists(dispatcher: Any) -> bool:
    # Numba has no public accessor for the index file; a missing attribute reads as "not cached".
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    index = getattr(cache_file, "_index_path", None)
    return isinstance(index, str) and Path(index).is_file()


def kernels() -> list[KernelState]:
    """The state of every kernel of :data:`KERNEL_MODULES` in this process."""
    states = []
    for name, dispatcher in _dispatchers():
        stats = dispatcher.stats
        states.append(
            KernelState(
                name=name,
                signatures=len(dispatcher.signatures),
                cache_hits=sum(stats.cache_hits.values()),
                cache_misses=sum(stats.cache_misses.values()),
                on_disk=_index_exists(dispatcher),
            )
        )
    return states


def uncompiled_kernels(modules: Sequence[str] = KERNEL_MODULES) -> list[str]:
    """Kernels of ``modules`` with no compiled signature in this process."""
    return [name for name, dispatcher in _dispatchers(modules) if not dispatcher.signatures]


def compile_all(root: Path) -> dict[str, Any]:
    """Run :func:`warm` under ``root``; return how long it took."""
    started = time.perf_counter()
    warm(root)
    return {"seconds": time.perf_counter() - started}


def _public_kernels() -> None:
    """Kernels exported for callers that build their own targets (no runbook path may call them)."""
    import numpy as np

    from app.backtest.engine import N_METRICS, N_TRADE_FIELDS, simulate_core_nb
    from app.strategies.kernels import cross_target_nb

    values = np.linspace(1.0, 2.0, 8)
    cross_target_nb(values, values[::-1].copy(), np.empty(8))
    _sma_cross_batch_target()
    # the simulation loop on its own, with the argument types simulate_nb passes it
    unused = np.empty(0, dtype=np.float64)
    simulate_core_nb(
        values, values, np.zeros(8), unused, unused, unused, unused, False, False, -1, False,
        0.0, 0.0, 10_000.0, 252.0, 1.0, np.empty(8), np.empty((9, N_TRADE_FIELDS)), np.empty(N_METRICS),
    )  # fmt: skip


def _sma_cross_batch_target() -> None:
    """The crossover's per-set target for the generic batch loop (a strategy's declared batch
    kernel), with the argument types that loop passes it: every runbook path takes the fused
    crossover kernels instead, so no sweep reaches it."""
    import numpy as np

    from app.strategies.sma_cross import SmaCross

    assert SmaCross.batch is not None

    def frozen(array: Any) -> Any:
        array.flags.writeable = False  # the loop hands its inputs on read-only
        return array

    bar = frozen(np.linspace(1.0, 2.0, 8))
    tables = frozen(np.stack([np.stack([bar, bar[::-1].copy()])]))
    ints = frozen(np.array([[0, 1]], dtype=np.int64))
    floats = frozen(np.zeros((1, 1)))
    SmaCross.batch.target(np.int64(0), bar, bar, bar, bar, tables, ints, floats, np.empty(8))


def warm(workdir: Path) -> None:
    """Run every production path that calls a kernel, writing only under ``workdir``."""
    from app.backtest.service import BacktestRequest, run_request
    from app.backtest.sweeps.config import parse_sweep_config
    from app.backtest.sweeps.runner import run_sweep
    from app.bootstrap import Container, scratch_settings

    container = Container(
        scratch_settings(workdir, BACKTEST_NO_SAVE=True, BACKTEST_OUT_DIR=workdir / "backtests")
    )
    settings = container.settings
    for strategy in _STRATEGIES:
        # the runbook's probabilistic validation run, then a plain all-in run with shorts
        for probabilistic in (True, False):
            request = BacktestRequest(
                symbol="AAPL",
                start=date(2022, 1, 3),
                end=date(2023, 2, 3),
                strategy=strategy,
                dal_vendor="synthetic",
                dal_interval="1Day",
                risk_agent="fractional_kelly" if probabilistic else "all_in",
                risk_agent_fraction=0.4,
                regime_aware_sizing=probabilistic,
                use_probabilistic=probabilistic,
                allow_short=not probabilistic,
            )
            run_request(settings, request, container.backtest_deps, source="cli", use_cache=False)
        # the batch kernels (fixed fraction) and the per-set path that needs priors (Kelly)
        for agent in ("fixed_fraction", "fractional_kelly"):
            config = parse_sweep_config(
                f"name: precompile_{strategy}_{agent}\n"
                "symbols: [AAPL]\nvendor: synthetic\ninterval: 1Day\n"
                "start: 2022-01-03\nend: 2023-02-03\n"
                f"strategy: {strategy}\n"
                f"params:\n  {_SWEEP_PARAMS[strategy]}\n"
                f"risk: {{agent: {agent}, fraction: 0.5}}\n"
                "allow_short: true\n"
                # walk-forward windows score the return matrix (robustness.window_scores)
                "walk_forward: {folds: 2, train_bars: 100}\n",
                source="precompile",
            )
            run_sweep(
                config,
                workdir / "sweeps" / config.name,
                settings=settings,
                deps=container.sweep_deps,
                resume=False,
                progress_stream=None,
                write_frame=agent == "fixed_fraction",
            )
            if agent == "fixed_fraction":
                _metrics_only_sweep(container, config, workdir)
    _portfolio(container)
    _public_kernels()
    container.close()


def _metrics_only_sweep(container: Any, config: Any, workdir: Path) -> None:
    """The sweep kernels a local sweep's one pass (metrics and returns together) does not call.

    A process or Ray worker evaluates with the metrics-only batch kernels, and a resumed sweep
    simulates its sets' returns again for the statistics: both, on the same config and data.
    """
    from app.backtest.sweeps.evaluate import evaluate_sets
    from app.backtest.sweeps.grid import expand_grid
    from app.backtest.sweeps.runner import risk_config_for, run_sweep

    deps = container.sweep_deps
    risk = risk_config_for(config, deps.risk_defaults)
    market = deps.loader(config, config.symbols[0])
    evaluate_sets(
        market,
        config.strategy,
        [item.params for item in expand_grid(config)],
        risk,
        fill=config.fill,
        commission=config.costs.commission,
        slippage_bps=config.costs.slippage_bps,
        initial_cash=config.initial_cash,
    )
    # every set is in the folder already: the rerun evaluates nothing and replays the returns
    run_sweep(
        config,
        workdir / "sweeps" / config.name,
        settings=container.settings,
        deps=deps,
        resume=True,
        progress_stream=None,
        write_frame=False,
    )


def _portfolio(container: Any) -> None:
    """The portfolio kernels (both cap modes): two synthetic symbols on one pool of cash."""
    from app.backtest.portfolio import PortfolioLimits, backtest_portfolio
    from app.risk.sizing import RiskConfig
    from app.strategies import get_strategy

    market = container.market_data
    bars = {
        symbol: market.fetch("synthetic", symbol, date(2022, 1, 3), date(2023, 2, 3), use_cache=False).bars
        for symbol in ("AAPL", "MSFT")
    }
    for risk in (RiskConfig(agent="fixed_fraction"), RiskConfig(agent="fractional_kelly", fraction=0.4)):
        for cap_mode in ("governor", "scale"):
            backtest_portfolio(
                bars, get_strategy("momentum"), risk, PortfolioLimits(max_weight=0.5, cap_mode=cap_mode)
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.backtest.precompile",
        description="Fill NUMBA_CACHE_DIR with every kernel (--check: fail unless all load from it).",
    )
    parser.add_argument(
        "--check", action="store_true", help="fail when a kernel had to be compiled instead of loaded"
    )
    parser.add_argument("--json", action="store_true", help="print the per-kernel figures as JSON")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    from numba import config as numba_config

    if getattr(numba_config, "DISABLE_JIT", False):
        sys.stderr.write("error: NUMBA_DISABLE_JIT is set; nothing can be compiled or cached\n")
        return 2
    cache_dir = os.environ.get("NUMBA_CACHE_DIR", "")
    if not cache_dir:
        sys.stderr.write("error: set NUMBA_CACHE_DIR (the folder the compiled kernels are written to)\n")
        return 2
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="ai-trader-precompile-") as workdir:
        elapsed = compile_all(Path(workdir))["seconds"]
    states = kernels()
    unreached = [s.name for s in states if s.signatures == 0 and not s.on_disk]
    compiled = [s.name for s in states if s.cache_misses > 0]
    if args.json:
        body = {
            "cache_dir": cache_dir,
            "cpu_name": os.environ.get("NUMBA_CPU_NAME"),
            "elapsed_s": round(elapsed, 3),
            "kernels": [
                {
                    "name": s.name,
                    "signatures": s.signatures,
                    "hits": s.cache_hits,
                    "misses": s.cache_misses,
                    "on_disk": s.on_disk,
                }
                for s in states
            ],
        }
        sys.stdout.write(json.dumps(body) + "\n")
    elif not args.quiet:
        sys.stdout.write(
            f"{len(states)} kernels, {sum(s.signatures for s in states)} signatures in {elapsed:.1f} s "
            f"({sum(s.cache_hits for s in states)} loaded from cache, "
            f"{sum(s.cache_misses for s in states)} compiled) -> {cache_dir}\n"
        )
    if os.environ.get("NUMBA_CPU_NAME", "").lower() != "generic":
        sys.stderr.write("warning: NUMBA_CPU_NAME is not 'generic': the cache only fits this CPU model\n")
    if unreached:
        sys.stderr.write(f"error: no precompile run reached {', '.join(unreached)}\n")
        return 1
    if args.check and compiled:
        sys.stderr.write(f"error: not loaded from the cache, compiled instead: {', '.join(compiled)}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
