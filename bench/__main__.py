"""``python -m bench``: run every benchmark suite at one commit, gate, and rewrite docs/benchmarks.md.

    python -m bench                 # every suite; fails (exit 1) on a regression; records on success
    python -m bench --quick         # fewer rounds, smaller peers; prints, checks trades, writes nothing
    python -m bench --only sweep,backtest --no-write   # a subset, printed only
    python -m bench --accept        # record this run even where the gate fails (an intended change)

Suites: sweep, backtest, coldstart, dal, router, bus, order_consumer (these two start their
own PostgreSQL/Redis on loopback ports, as the integration tests do), reconcile (an Alpaca
replay server on loopback), portfolio, models, walkforward, console (the API and the dashboard
as processes, pages loaded in Debian's Chromium).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar is not part of its work

from bench import gate, report
from bench.report import Section

REPO = Path(__file__).resolve().parents[1]
SUITES = (
    "sweep",
    "backtest",
    "coldstart",
    "dal",
    "router",
    "bus",
    "order_consumer",
    "reconcile",
    "portfolio",
    "models",
    "walkforward",
    "console",
)
MODULES = {name: f"bench.bench_{name}" for name in SUITES}
PACKAGES = (
    "numpy",
    "pandas",
    "numba",
    "llvmlite",
    "vectorbt",
    "vectorbt-rust",
    "backtesting",
    "pyarrow",
    "scikit-learn",
)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def stamp() -> dict[str, Any]:
    """Where and with what this run was measured."""
    import numba

    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    values: dict[str, Any] = {
        "commit": f"{commit}{' + uncommitted changes' if dirty else ''}",
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    for package in PACKAGES:
        values[package] = _version(package)
    values["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.system()}"
    )
    values["numba threads"] = (
        f"verdicts: 1 (`numba.set_num_threads(1)`, `NUMBA_NUM_THREADS=1` in child processes);"
        f" all-cores rows: {numba.config.NUMBA_NUM_THREADS}"
    )
    values["numba threading layer / CPU target"] = (
        f"{numba.config.THREADING_LAYER}; {os.environ.get('NUMBA_CPU_NAME') or 'host'}"
    )
    values["load average at start (1, 5, 15 min)"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return values


def run_suites(names: Sequence[str], quick: bool) -> list[Section]:
    sections = []
    for name in names:
        module = importlib.import_module(MODULES[name])
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        section: Section = module.run(quick=quick)
        print(f"[bench] {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        sections.append(section)
    return sections


def collect(sections: Sequence[Section], run_stamp: dict[str, Any]) -> gate.Recorded:
    ratios: dict[str, float] = {}
    trades: dict[str, str] = {}
    for section in sections:
        ratios.update(section.ratios)
        trades.update(section.trades)
    return gate.Recorded(ratios, trades, {"commit": run_stamp["commit"], "measured": run_stamp["measured"]})


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds for development; writes nothing")
    parser.add_argument(
        "--only", default="", help=f"comma-separated suites (default: all of {', '.join(SUITES)})"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="do not rewrite docs/benchmarks.md or bench/results.json"
    )
    parser.add_argument("--accept", action="store_true", help="record this run even if the gate fails")
    parser.add_argument("--results", type=Path, default=gate.RESULTS, help="recorded results (JSON)")
    parser.add_argument("--doc", type=Path, default=report.DOC, help="the document to rewrite")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SUITES)
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)} (known: {', '.join(SUITES)})")
    args.names = names
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    previous = gate.load(args.results)
    run_stamp = stamp()
    sections = run_suites(args.names, args.quick)
    current = collect(sections, run_stamp)
    failures = gate.check(previous, current)
    if args.quick:
        # quick rounds are too few for the ratio gate; the trade lists must still match
        failures = [f for f in failures if f.startswith("trades ")]
    baseline = previous.stamp.get("commit")
    print(report.render(run_stamp, sections, failures=failures, accepted=args.accept, baseline=baseline))
    complete = set(args.names) == set(SUITES)
    write = complete and not args.quick and not args.no_write
    for failure in failures:
        print(f"[bench] REGRESSION {failure}", file=sys.stderr)
    if write:
        # the document always shows the latest full run (with the gate's verdict at its top);
        # the record the gate compares against moves only when the gate passes or --accept
        verdict = {"failures": failures, "accepted": args.accept, "baseline": baseline}
        report.write(run_stamp, sections, args.doc, **verdict)
        print(f"[bench] wrote {args.doc}", file=sys.stderr)
    elif not complete and not args.quick and not args.no_write:
        print(
            "[bench] a subset of suites ran: nothing written (the document holds one full run)",
            file=sys.stderr,
        )
    if failures and not args.accept:
        print("[bench] gate failed: results not recorded (--accept for an intended change)", file=sys.stderr)
        return 1
    if write:
        gate.save(gate.merge(previous, current), args.results)
        print(f"[bench] recorded {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
