"""Timing helpers shared by every suite: one statistic (median of N after warm-up, with min and max).

Every side of a comparison is measured with :func:`interleaved`: the callables run in turn,
round after round, so load from other work on the machine falls on all of them alike, and each
gets the same number of warm-up calls and timed rounds.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Stat", "all_threads", "cpu_count", "fmt_seconds", "interleaved", "numba_threads", "one_shot"]


@dataclass(frozen=True, slots=True)
class Stat:
    """Seconds per call: median, min and max wall time over ``rounds`` timed rounds of ``number`` calls.

    ``cpu`` is the median CPU time of this process over the same rounds (NaN when not measured):
    on a machine shared with other work a single-threaded call's CPU time excludes the time
    spent waiting for a core, so it is the steadier figure for one-thread comparisons.
    """

    median: float
    low: float
    high: float
    rounds: int
    number: int = 1
    cpu: float = float("nan")

    @classmethod
    def of(cls, samples: list[float], number: int = 1, cpu: list[float] | None = None) -> Stat:
        if not samples:
            raise ValueError("no timing samples")
        cpu_median = statistics.median(cpu) if cpu else float("nan")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples), number, cpu_median)

    def cell(self) -> str:
        """``median (min-max)`` with units, for a table cell."""
        return f"{fmt_seconds(self.median)} ({fmt_seconds(self.low)}-{fmt_seconds(self.high)})"

    def cpu_cell(self) -> str:
        return fmt_seconds(self.cpu) if self.cpu == self.cpu else "n/a"

    def as_dict(self) -> dict[str, float | int]:
        return {"median_s": self.median, "min_s": self.low, "max_s": self.high, "rounds": self.rounds}


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


def interleaved(
    sides: Mapping[str, Callable[[], Any]],
    *,
    rounds: int,
    warmup: int = 1,
    number: Mapping[str, int] | None = None,
) -> dict[str, Stat]:
    """Time each callable ``rounds`` times, in turn, after ``warmup`` untimed calls each.

    ``number[name]`` calls are timed together per round for sub-millisecond work (the sample is
    the mean per call of that batch); the statistic is the same for every side.
    """
    counts = {name: (number or {}).get(name, 1) for name in sides}
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            k = counts[name]
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(k):
                fn()
            cpu[name].append((time.process_time() - started_cpu) / k)
            samples[name].append((time.perf_counter() - started) / k)
    return {name: Stat.of(values, counts[name], cpu[name]) for name, values in samples.items()}


def one_shot(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def all_threads() -> int:
    """Threads Numba may use in this process (its configured maximum)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


@contextlib.contextmanager
def numba_threads(count: int) -> Iterator[int]:
    """Run the block with Numba's parallel loops limited to ``count`` threads (restored after)."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(count, all_threads())))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)


def cpu_count() -> int:
    return os.cpu_count() or 1
