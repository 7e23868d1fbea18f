"""DAL smoke test: fetch fresh bars from each vendor, compute signals and regimes, write a report.

``ai-trader data smoke`` (or ``python scripts/dal_smoke.py``) ``--output-dir artifacts/ops/dal_smoke``
runs :data:`DEFAULT_CHECKS`;
``--check vendor:symbol:interval:lookbackDays`` (repeatable) replaces them. Every window ends
at the close of ``--as-of`` (default: today in New York). Bars always come from the vendor
(never from the cache) and are written to the cache; the report names the parquet file.
The report is ``dal_smoke_<UTC timestamp>.json``; any failed check makes the exit code 1.
``--publish`` also puts every fetched bar, signal and regime row on ``bars.raw``,
``signals.enriched`` and ``regimes.snapshot`` (keyed by symbol, one correlation id per run);
a publish that fails fails its check.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from rich.console import Console
from rich.table import Table

from app.bus.ports import Bus
from app.config import Settings
from app.dal.errors import VendorRefused
from app.dal.quality import xnys
from app.dal.registry import VENDORS
from app.dal.service import MarketData
from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.domain.intervals import INTERVALS, NEW_YORK
from app.errors import AiTraderError, InputError
from app.validation import check_market_date

__all__ = ["DEFAULT_CHECKS", "Check", "as_of_date", "build_parser", "parse_check", "render", "run_smoke"]


@dataclass(frozen=True, slots=True)
class Check:
    """One route to probe; ``quote`` also asks the vendor for its latest quote (Finnhub)."""

    vendor: str
    symbol: str
    interval: str
    lookback_days: int
    quote: bool = False


Publisher = Callable[[str, pd.DataFrame, pd.DataFrame, pd.DataFrame, str, str], dict[str, int]]
"""``(symbol, bars, signals, regimes, vendor, interval) -> events published per hub``."""

DEFAULT_CHECKS: tuple[Check, ...] = (
    Check("alpaca", "AAPL", "1Day", 30),
    Check("alphavantage", "AAPL", "5Min", 7),
    Check("alphavantage", "AAPL", "1Day", 30),
    Check("yahoo", "AAPL", "1Day", 30),
    Check("twelvedata", "AAPL", "1Day", 30),
    Check("finnhub", "AAPL", "1Day", 30, quote=True),
)


def parse_check(text: str) -> Check:
    """Parse ``vendor:symbol:interval:lookbackDays``.

    Raises:
        InputError: wrong number of parts, unknown vendor or interval, or a bad day count.
    """
    parts = text.split(":")
    if len(parts) != 4:
        raise InputError(f"--check must be vendor:symbol:interval:lookbackDays; got {text!r}")
    vendor, symbol, interval, days = (p.strip() for p in parts)
    if vendor not in (*VENDORS, "auto"):
        raise InputError(
            f"--check {text!r}: unknown vendor {vendor!r}; use one of {', '.join(VENDORS)}, auto"
        )
    if interval not in INTERVALS:
        raise InputError(
            f"--check {text!r}: unknown interval {interval!r}; use one of {', '.join(INTERVALS)}"
        )
    if not days.isdigit() or not 1 <= int(days) <= 36500:
        raise InputError(f"--check {text!r}: lookbackDays must be a whole number of days from 1 to 36500")
    return Check(vendor, symbol, interval, int(days), quote=vendor == "finnhub")


def session_close(day: date) -> datetime:
    """The XNYS close of ``day`` (16:00 New York when the exchange is shut that day)."""
    cal = xnys()
    stamp = pd.Timestamp(day)
    if cal.first_session <= stamp <= cal.last_session and cal.is_session(stamp):
        close: datetime = cal.session_close(stamp).to_pydatetime()
        return close
    return datetime(day.year, day.month, day.day, 16, 0, tzinfo=ZoneInfo(NEW_YORK)).astimezone(UTC)


def _iso(value: Any) -> str | None:
    return None if value is None else pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def run_check(md: MarketData, check: Check, as_of: date, publish: Publisher | None = None) -> dict[str, Any]:
    """Run one check; never raises for vendor, data or bus problems (they go into ``error``)."""
    entry: dict[str, Any] = {
        "vendor": check.vendor,
        "symbol": check.symbol,
        "interval": check.interval,
        "lookback_days": check.lookback_days,
        "status": "error",
        "served_by": None,
        "bars": 0,
        "signals": 0,
        "regimes": 0,
        "first": None,
        "last": None,
        "cache_path": None,
        "latency_ms": None,
        "quality": None,
        "error": None,
    }
    start = as_of - timedelta(days=check.lookback_days)
    end: date | datetime = as_of if INTERVALS[check.interval].is_daily else session_close(as_of)
    errors: list[str] = []
    plan_refused = False
    began = datetime.now(UTC)
    try:
        res = md.fetch(check.vendor, check.symbol, start, end, interval=check.interval, use_cache=False)
        sig = compute_signals(res.bars)
        reg = compute_regimes(res.bars, sig)
        entry.update(
            served_by=res.vendor,
            bars=len(res.bars),
            signals=len(sig),
            regimes=len(reg),
            first=_iso(res.bars.index[0]) if len(res.bars) else None,
            last=_iso(res.bars.index[-1]) if len(res.bars) else None,
            cache_path=res.cache_path,
            latency_ms=round(res.latency_ms, 1),
            quality=res.quality.to_dict(),
        )
        if len(res.bars) == 0:
            errors.append("vendor returned no bars for the window")
        elif not len(res.bars) == len(sig) == len(reg):
            errors.append(f"count mismatch: bars={len(res.bars)} signals={len(sig)} regimes={len(reg)}")
        elif publish is not None:
            try:
                entry["published"] = publish(check.symbol, res.bars, sig, reg, res.vendor, res.interval)
            except AiTraderError as exc:
                entry["published"] = None
                errors.append(f"publish: {exc}")
    except VendorRefused as exc:
        plan_refused = check.quote and exc.kind == "plan"
        errors.append(str(exc))
    except AiTraderError as exc:
        errors.append(str(exc))
    if check.quote:
        try:
            quote = md.quote(check.vendor, check.symbol)
            entry["quote"] = {
                "price": quote.price,
                "time": _iso(quote.time),
                "previous_close": quote.previous_close,
            }
            if plan_refused:
                # candles are not in every plan; the quote is what this check must prove
                entry["candles_error"] = errors.pop()
        except AiTraderError as exc:
            entry["quote"] = None
            errors.append(f"quote: {exc}")
    if entry["latency_ms"] is None:
        entry["latency_ms"] = round((datetime.now(UTC) - began).total_seconds() * 1000.0, 1)
    entry["status"] = "error" if errors else "ok"
    entry["error"] = "; ".join(errors) if errors else None
    return entry


def run_smoke(
    settings: Settings,
    checks: Sequence[Check],
    as_of: date,
    output_dir: Path,
    *,
    market_data: MarketData,
    bus: Bus | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run ``checks`` and write the JSON report into ``output_dir``; return its path and content.

    With a ``bus`` the fetched rows also go to its market hubs (the caller opens it before
    any vendor is called, so a bus that cannot be opened fails first).
    """
    started = datetime.now(UTC)
    run_id = f"dal-smoke-{started.strftime('%Y%m%dT%H%M%S%fZ')}"
    publisher: Publisher | None = None
    if bus is not None:
        from app.bus.market_events import publish_market_frames

        market_bus = bus

        def publisher(
            symbol: str, bars: pd.DataFrame, sig: pd.DataFrame, reg: pd.DataFrame, vendor: str, interval: str
        ) -> dict[str, int]:
            result = publish_market_frames(
                market_bus,
                settings,
                symbol,
                bars=bars,
                signals=sig,
                regimes=reg,
                vendor=vendor,
                interval=interval,
                correlation_id=run_id,
            )
            return result.counts

    results = [run_check(market_data, check, as_of, publisher) for check in checks]
    report = {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "started_at": _iso(started),
        "finished_at": _iso(datetime.now(UTC)),
        "ok": all(r["status"] == "ok" for r in results),
        "published": bus is not None,
        "checks": results,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"dal_smoke_{started.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path, report


def render(report: dict[str, Any], path: Path, console: Console) -> None:
    table = Table(title=f"DAL smoke, as of {report['as_of']}")
    for column in (
        "vendor",
        "symbol",
        "interval",
        "days",
        "status",
        "bars",
        "signals",
        "regimes",
        "last",
        "ms",
        "note",
    ):
        table.add_column(column, overflow="fold")
    for c in report["checks"]:
        note = c["error"] or ""
        if c.get("quote"):
            note = f"quote {c['quote']['price']} at {c['quote']['time']}" + (f"; {note}" if note else "")
        if c.get("published"):
            note = f"published {sum(c['published'].values())} events" + (f"; {note}" if note else "")
        status = "[green]ok[/green]" if c["status"] == "ok" else "[red]error[/red]"
        table.add_row(
            c["vendor"],
            c["symbol"],
            c["interval"],
            str(c["lookback_days"]),
            status,
            str(c["bars"]),
            str(c["signals"]),
            str(c["regimes"]),
            c["last"] or "",
            f"{c['latency_ms']:.0f}" if c["latency_ms"] is not None else "",
            note,
        )
    console.print(table)
    console.print(f"report: {path}")


def build_parser(prog: str = "dal_smoke.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch fresh bars from each market-data vendor and write a JSON report.",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("artifacts/ops/dal_smoke"), help="report folder"
    )
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="VENDOR:SYMBOL:INTERVAL:LOOKBACKDAYS",
        help="probe this route instead of the defaults (repeatable)",
    )
    parser.add_argument(
        "--as-of", default=None, metavar="YYYY-MM-DD", help="end windows at this date's close"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also publish the fetched bars, signals and regimes to bars.raw, signals.enriched and "
        "regimes.snapshot on the configured bus, keyed by symbol",
    )
    return parser


def as_of_date(text: str | None) -> date:
    """``--as-of``: a YYYY-MM-DD date, or today in New York when not given."""
    if text is None:
        return datetime.now(ZoneInfo(NEW_YORK)).date()
    try:
        as_of = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of must be YYYY-MM-DD; got {text!r}") from None
    check_market_date("--as-of", as_of)
    return as_of


def check_dicts() -> list[dict[str, Any]]:
    """The default checks as plain dicts (for docs and tests)."""
    return [asdict(c) for c in DEFAULT_CHECKS]
