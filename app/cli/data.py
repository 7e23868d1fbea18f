"""``ai-trader data fetch``: bars through the DAL (cache, quality checks), optionally onto the bus."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import typer

from app.cli.common import console, exit_on_error, settings_or_exit
from app.errors import InputError

__all__ = ["data_app"]

data_app = typer.Typer(help="Market data: fetch bars, signals and regimes through the DAL.")


def _when(text: str | None, flag: str, default: date) -> date | datetime:
    if text is None:
        return default
    from app.backtest.run_breakout import parse_when

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
    settings = settings_or_exit()
    with exit_on_error():
        from app.dal import MarketData
        from app.decision import compute_regimes, compute_signals

        today = datetime.now(UTC).date()
        first = _when(start, "--start", today - timedelta(days=30))
        last = _when(end, "--end", today)
        if isinstance(first, datetime) != isinstance(last, datetime):
            raise InputError("--start and --end must both be dates or both be timestamps")
        bus = None
        if publish:
            from app.bus.factory import create_bus

            bus = create_bus(settings)  # fail on bus settings before calling any vendor
        market = MarketData.from_settings(settings)
        try:
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
        finally:
            market.close()
            if bus is not None:
                bus.close()
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
