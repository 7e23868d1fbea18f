"""Render docs/benchmarks.md from one run's sections and the stamp of that run.

The whole file is rewritten by ``python -m bench`` (every suite at one commit); nothing in it
comes from an earlier run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DOC", "Goal", "Section", "render", "write"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Goal:
    """One target of the issue, its measured value and whether it is met."""

    text: str
    measured: str
    met: bool


@dataclass
class Section:
    """What one suite hands back: its markdown, its gate keys (ratios, trades) and its goals."""

    name: str
    title: str
    body: str
    ratios: dict[str, float] = field(default_factory=dict)
    trades: dict[str, str] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)


_INTRO = """# Benchmarks

Every figure below comes from one run of `python -m bench` at the commit stamped here: it runs
every suite under `bench/`, measures ai-trader and its peers in the same process (or in fresh
processes for start-up times) on the same data, rewrites this file and records the ratios and
trade fingerprints in `bench/results.json`, failing when a ratio falls by more than 10 % or a
trade list changes against the last recorded run.

How it is measured:

- **Equal threads.** Every verdict (speed-up, goal) compares one thread with one thread: ai-trader
  runs with `numba.set_num_threads(1)` (`NUMBA_NUM_THREADS=1` in child processes) and each peer
  single-threaded. Rows that use more threads say how many each side used, and no verdict rests
  on them.
- **Same statistic for every side.** Each side gets the same warm-up and the same number of timed
  rounds; the rounds are interleaved (A, B, C, A, B, C, ...) so load from other work on the
  machine falls on every side alike. Figures are the median, with (min-max) beside it.
  Sub-millisecond calls are timed in batches and reported per call.
- **Same work.** Each row states what the side computes; where the peers differ (fills, fees,
  sizing, what is materialised) the row or its notes say so.
- **Shared machine.** The benchmark machine is shared with other jobs, so absolute times drift;
  the ratios from the same interleaved rounds are the steadier figures.
"""


def _stamp_table(stamp: Mapping[str, Any]) -> str:
    lines = ["| stamp | value |", "|---|---|"]
    for key, value in stamp.items():
        lines.append(f"| {key} | {value} |")
    return "\n".join(lines)


def _goal_lines(sections: Sequence[Section]) -> list[str]:
    goals = [(s.title, g) for s in sections for g in s.goals]
    if not goals:
        return []
    lines = ["## Goals", "", "| suite | goal | measured | status |", "|---|---|---|---|"]
    for title, goal in goals:
        lines.append(f"| {title} | {goal.text} | {goal.measured} | {'met' if goal.met else '**missed**'} |")
    return [*lines, ""]


def _gate_lines(failures: Sequence[str], accepted: bool, baseline: str | None) -> list[str]:
    """The regression gate's verdict on this run, first thing in the document when it failed."""
    if not failures:
        return []
    against = f" (recorded at commit {baseline})" if baseline else ""
    if accepted:
        head = (
            f"**Gate of this run: accepted over {len(failures)} check(s)** against the previous record"
            f"{against}; this run is now the record (`python -m bench --accept`):"
        )
    else:
        head = (
            f"**Gate of this run: failed** on {len(failures)} check(s) against the record{against}; this run "
            "was not recorded in `bench/results.json`:"
        )
    return [head, "", *[f"- {failure}" for failure in failures], ""]


def render(
    stamp: Mapping[str, Any],
    sections: Sequence[Section],
    *,
    failures: Sequence[str] = (),
    accepted: bool = False,
    baseline: str | None = None,
) -> str:
    """The whole document: intro (after the gate's verdict when it failed), stamp, goals summary,
    then one part per section."""
    if not sections:
        raise ValueError("no sections to render")
    names = [s.name for s in sections]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate section names: {names}")
    gate_lines = _gate_lines(failures, accepted, baseline)
    title, _, intro = _INTRO.partition("\n")
    head = [title, "", *gate_lines, intro.lstrip("\n")] if gate_lines else [_INTRO]
    parts = [*head, "## Run", "", _stamp_table(stamp), "", *_goal_lines(sections)]
    for section in sections:
        parts += [f"## {section.title}", "", section.body.strip(), ""]
    return "\n".join(parts).rstrip() + "\n"


def write(
    stamp: Mapping[str, Any],
    sections: Sequence[Section],
    path: Path = DOC,
    *,
    failures: Sequence[str] = (),
    accepted: bool = False,
    baseline: str | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(stamp, sections, failures=failures, accepted=accepted, baseline=baseline))
    return path
