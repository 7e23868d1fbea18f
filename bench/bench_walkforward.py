"""Walk-forward sweep: the 3,230-set SMA-crossover grid over 10 rolling folds vs one in-sample grid.

Same grid and data as the sweep suite (GOOG daily, 2,148 bars, fast 5..49 x slow 10..99):

* in-sample grid: ``evaluate_sets`` (the batch kernel, every set once over all bars);
* ``run_sweep`` without walk-forward: the grid + outputs + the deflated Sharpe / PBO
  statistics over every set's per-bar returns (``robustness.set_returns``, one compiled
  parallel pass of the batch kernel, computed once and sliced per window);
* ``run_sweep`` with ``walk_forward: {folds: 10, train_bars: 500, layout: rolling}``: the same
  plus choosing the best set on each train window and stitching the test windows.

One thread (Numba) for every side, one timed run each after a warm-up. ``run_sweep`` evaluates
its chunks on ``execution.workers`` Numba threads (default: every core), so its sides run with
``execution: {backend: local, workers: 1}`` and each side checks that Numba is on one thread
after it. Before this, the sweeps ran their grid on every core and (until ``run_sweep`` restored
the count) left Numba there, so after the warm-up the grid baseline ran on every core too: its
parallel kernel gained from it and the mostly serial rest of a sweep did not.
Goal: walk-forward under 10x the in-sample grid (wall time; the CPU-time ratio is shown too).

Run as part of ``python -m bench`` (or ``python -m bench --only walkforward``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.bench_sweep import PAIRS, AiTrader
from bench.report import Goal, Section
from bench.timing import interleaved, numba_threads

GOAL = 10.0


def run(quick: bool = False) -> Section:
    import numba

    from app.backtest.sweeps import run_sweep
    from app.backtest.sweeps.config import ExecutionConfig, WalkForwardConfig
    from app.bootstrap import build_sweep_deps

    with tempfile.TemporaryDirectory(prefix="bench-wf-") as tmp:
        side = AiTrader(Path(tmp))
        one_thread = ExecutionConfig(backend="local", workers=1)
        plain = side.config.model_copy(update={"execution": one_thread})
        walk = side.config.model_copy(
            update={
                "execution": one_thread,
                "walk_forward": WalkForwardConfig(folds=10, train_bars=500, layout="rolling"),
            }
        )
        deps = build_sweep_deps(side.settings)
        runs = {"n": 0}

        def one(fn: Callable[[], None]) -> Callable[[], None]:
            def timed() -> None:
                fn()
                if numba.get_num_threads() != 1:
                    raise RuntimeError(f"a side ran on {numba.get_num_threads()} Numba threads, not 1")

            return timed

        def sweep(config: object) -> None:
            runs["n"] += 1
            result = run_sweep(
                config,  # type: ignore[arg-type]
                Path(tmp) / f"wf{runs['n']}",
                settings=side.settings,
                deps=deps,
                loader=lambda c, s: side.market,
                write_frame=False,
            )
            if result.ok != len(PAIRS):
                raise RuntimeError(f"run_sweep evaluated {result.ok} of {len(PAIRS)} sets")

        with numba_threads(1):
            stats = interleaved(
                {
                    "grid": one(side.evaluate),
                    "sweep": one(lambda: sweep(plain)),
                    "walk": one(lambda: sweep(walk)),
                },
                rounds=1 if quick else 3,
                warmup=1,
            )
    ratio = stats["walk"].median / stats["grid"].median
    cpu_ratio = stats["walk"].cpu / stats["grid"].cpu
    met = ratio < GOAL
    lines = [
        f"GOOG daily, {len(PAIRS):,} SMA-crossover sets, one Numba thread; median of "
        f"{stats['grid'].rounds} interleaved rounds after a warm-up.",
        "",
        "| what | time | x in-sample grid | CPU time | x grid (CPU) |",
        "|---|---:|---:|---:|---:|",
        f"| in-sample grid (`evaluate_sets`, batch kernel) | {stats['grid'].cell()} | 1.0 | "
        f"{stats['grid'].cpu_cell()} | 1.0 |",
        f"| `run_sweep`, no walk-forward (grid + DSR/PBO replay) | {stats['sweep'].cell()} | "
        f"{stats['sweep'].median / stats['grid'].median:.1f} | {stats['sweep'].cpu_cell()} | "
        f"{stats['sweep'].cpu / stats['grid'].cpu:.1f} |",
        f"| `run_sweep`, walk-forward 10 rolling folds | {stats['walk'].cell()} | {ratio:.1f} | "
        f"{stats['walk'].cpu_cell()} | {cpu_ratio:.1f} |",
        "",
        f"Goal (walk-forward < {GOAL:.0f}x one in-sample grid): **{'met' if met else 'NOT met'}** "
        f"({ratio:.1f}x). Walk-forward itself adds little to a sweep without it (the per-set returns "
        "are computed once and each fold only slices them); the cost is the rest of `run_sweep`: "
        "the overfitting statistics (PBO over its train/test combinations, window scores over the "
        "whole bars x sets return matrix), the bias check and writing 3,230 rows.",
    ]
    return Section(
        name="walkforward",
        title="Walk-forward sweep (3,230 sets, 10 folds)",
        body="\n".join(lines),
        goals=[Goal("walk-forward of the 3,230-set grid under 10x one in-sample grid", f"{ratio:.1f}x", met)],
    )


if __name__ == "__main__":
    print(run().body)
