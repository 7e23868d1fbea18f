"""``ai-trader data fetch`` (bars through the DAL, optionally onto the bus) and ``ai-trader data smoke``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import typer
from rich.console import Console

from app.cli.common import console, container_or_exit
from app.cli.runs import RAW_ARGS
from app.errors import InputError

__all__ = ["data_app"]

data_app = typer.Typer(help="Market data: fetch bars, signals and regimes through the DAL.")


def _when(text: str | None, flag: str, default: date) -> date | datetime:
    if text is None:
        return default
    from app.cli.backtest import parse_when

    return parse_when(text, flag)


@data_app.command("fetch")
def fetch_command(
    symbol: str = typer.Argument(..., help="Ticker, e.g. AAPL."),
    vendor: str = typer.Option("auto", "--vendor", help="A vendor name, or auto (the fallback chain)."),
    interval: str = typer.Option("1Day", "--interval", help="Bar interval: 1Day, 1Hour, 15Min, 5Min, 1Min."),
    start: str | None = typer.Option(None, "--start", help="First day or ISO time (default: 30 days ago)."),
    end: str | None = typer.Option(None, "--end", help="Last day or ISO time, inclusive (default: today)."),
    data_path: str | None = typer.Option(None, "--data-path", help="CSV or parquet file for --vendor file."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Ask the vendor even when the cache has the bars."
    ),
    publish: bool = typer.Option(
        False,
        "--publish",
        help="Publish bars, signals and regimes to bars.raw, signals.enriched and regimes.snapshot, "
        "keyed by symbol.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Fetch bars (cached in trader-data), compute signals and regimes, report counts and quality."""
    with container_or_exit() as container:
        from app.decision import compute_regimes, compute_signals

        settings = container.settings

        today = datetime.now(UTC).date()
        first = _when(start, "--start", today - timedelta(days=30))
        last = _when(end, "--end", today)
        if isinstance(first, datetime) != isinstance(last, datetime):
            raise InputError("--start and --end must both be dates or both be timestamps")
        bus = container.bus if publish else None  # fail on bus settings before calling any vendor
        market = container.market_data
        result = market.fetch(
            vendor, symbol, first, last, interval=interval, use_cache=not no_cache, path=data_path
        )
        signals = compute_signals(result.bars)
        regimes = compute_regimes(result.bars, signals)
        bars = result.bars
        report: dict[str, Any] = {
            "symbol": result.symbol,
            "vendor": result.vendor,
            "interval": result.interval,
            "bars": len(bars),
            "signals": len(signals),
            "regimes": len(regimes),
            "first": bars.index[0].isoformat() if len(bars) else None,
            "last": bars.index[-1].isoformat() if len(bars) else None,
            "last_close": float(bars["close"].iloc[-1]) if len(bars) else None,
            "last_regime": str(regimes["regime"].iloc[-1]) if len(regimes) else None,
            "from_cache": result.from_cache,
            "cache_path": result.cache_path,
            "latency_ms": round(result.latency_ms, 1),
            "quality": result.quality.to_dict(),
            "attempts": [{"vendor": v, "error": e} for v, e in result.attempts],
        }
        if bus is not None:
            from app.bus.market_events import publish_market_frames

            published = publish_market_frames(
                bus,
                settings,
                result.symbol,
                bars=bars,
                signals=signals,
                regimes=regimes,
                vendor=result.vendor,
                interval=result.interval,
            )
            report["published"] = published.counts
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    origin = "cache" if report["from_cache"] else "vendor"
    source = f"{report['vendor']} ({origin}, {report['latency_ms']} ms)"
    console.print(
        f"{report['symbol']} {report['interval']} from {source}: "
        f"{report['bars']} bars, {report['signals']} signals, {report['regimes']} regimes, "
        f"{report['first']} .. {report['last']}",
        highlight=False,
        soft_wrap=True,
    )
    if report["bars"]:
        console.print(f"last close {report['last_close']}, regime {report['last_regime']}", highlight=False)
    for attempt in report["attempts"]:
        console.print(f"tried {attempt['vendor']} first: {attempt['error']}", highlight=False, soft_wrap=True)
    if report["cache_path"]:
        console.print(f"cache: {report['cache_path']}", highlight=False, soft_wrap=True)
    if "published" in report:
        counts = ", ".join(f"{hub} {n}" for hub, n in report["published"].items())
        console.print(f"published: {counts}", highlight=False)


def smoke_main(
    argv: Sequence[str] | None = None, console: Console | None = None, *, prog: str = "dal_smoke.py"
) -> int:
    """``ai-trader data smoke`` and ``scripts/dal_smoke.py`` (same options, same report).

    Returns 0 when every check passed, 1 when one failed (the report is written either way),
    2 for bad arguments or settings.
    """
    from app.bootstrap import Container
    from app.config import load_settings
    from app.dal.smoke import DEFAULT_CHECKS, as_of_date, build_parser, parse_check, render, run_smoke
    from app.errors import AiTraderError, ConfigError
    from app.failures import EDGE_FAILURES, describe_failure

    out = console or Console(width=None if sys.stdout.isatty() else 160)
    args = build_parser(prog).parse_args(argv)
    try:
        settings = load_settings()
        checks = [parse_check(c) for c in args.check] or list(DEFAULT_CHECKS)
        as_of = as_of_date(args.as_of)
        with Container(settings) as container:
            bus = container.bus if args.publish else None  # a bus that cannot open fails first
            path, report = run_smoke(
                settings, checks, as_of, args.output_dir, market_data=container.market_data, bus=bus
            )
    except (ConfigError, InputError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    except AiTraderError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 1
    except EDGE_FAILURES as exc:
        Console(stderr=True).print(
            f"[red]error:[/red] {describe_failure(exc)}", highlight=False, soft_wrap=True
        )
        return 1
    render(report, path, out)
    return 0 if report["ok"] else 1


@data_app.command("smoke", context_settings=RAW_ARGS, add_help_option=False)
def smoke_command(ctx: typer.Context) -> None:
    """Fetch fresh bars from every vendor and write a JSON report (the options of scripts/dal_smoke.py).

    Options: --output-dir DIR, --check VENDOR:SYMBOL:INTERVAL:LOOKBACKDAYS (repeatable),
    --as-of YYYY-MM-DD, --publish; --help lists them.
    """
    raise typer.Exit(smoke_main(list(ctx.args), prog="ai-trader data smoke"))
