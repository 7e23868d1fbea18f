"""``ai-trader backtest run``: one DAL-backed backtest from the command line (its parser and body;
the typer command in :mod:`app.cli.runs` forwards to :func:`main`).

``python -m app.backtest.run_breakout`` is the same command under its older name (a shim over
:func:`main`). Example (the runbook's probabilistic validation)::

    ai-trader backtest run --symbol AAPL --start 2023-01-03 --end 2023-02-03 \\
        --strategy momentum --use-probabilistic --dal-vendor yahoo --dal-interval 1Day \\
        --risk-agent fractional_kelly --risk-agent-fraction 0.4 --regime-aware-sizing --debug

The flags map one to one onto :class:`~app.backtest.service.BacktestRequest`, the body of
``POST /backtests/run``. Exit codes: 0 success, 2 bad input or configuration (one ``error:``
line on stderr), 1 any other failure the platform reports (storage, vendor).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, NoReturn

from app.errors import AiTraderError, ConfigError, InputError

__all__ = ["build_parser", "main", "parse_when"]

SHIM_PROG = "python -m app.backtest.run_breakout"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see --help)\n")
        raise SystemExit(2)


def parse_when(text: str, flag: str) -> date | datetime:
    """Parse a date (``2023-01-03``) or an ISO timestamp (naive means UTC)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{flag}: expected a date (YYYY-MM-DD) or an ISO timestamp, got {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--param: expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def build_parser(prog: str = SHIM_PROG) -> argparse.ArgumentParser:
    """The options of ``ai-trader backtest run`` (and of the ``run_breakout`` shim)."""
    parser = _Parser(
        prog=prog,
        description="Backtest a strategy on DAL bars with priors and risk sizing, then write its frame.",
    )
    parser.add_argument("--symbol", required=True, help="ticker, e.g. AAPL")
    parser.add_argument("--start", required=True, help="first day (YYYY-MM-DD) or ISO timestamp, inclusive")
    parser.add_argument("--end", required=True, help="last day (YYYY-MM-DD) or ISO timestamp, inclusive")
    parser.add_argument("--strategy", required=True, help="momentum, mean_reversion, breakout or sma_cross")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter (repeatable)"
    )
    parser.add_argument("--use-probabilistic", action="store_true", help="compute win probability and payoff")
    parser.add_argument("--dal-vendor", default="synthetic", help="market-data vendor (default synthetic)")
    parser.add_argument("--dal-interval", default="1Day", help="bar interval, e.g. 1Day, 1Hour, 5Min")
    parser.add_argument("--data-path", default=None, help="CSV or parquet file for --dal-vendor file")
    parser.add_argument(
        "--risk-agent", default="all_in", help="fractional_kelly, fixed_fraction or all_in (default all_in)"
    )
    parser.add_argument(
        "--risk-agent-fraction", type=float, default=0.5, help="Kelly scale or fixed fraction"
    )
    parser.add_argument("--regime-aware-sizing", action="store_true", help="scale size by regime multiplier")
    parser.add_argument("--allow-short", action="store_true", help="trade short signals (default long-only)")
    parser.add_argument("--commission", type=float, default=0.0, help="fraction of notional per side")
    parser.add_argument("--slippage-bps", type=float, default=0.0, help="adverse fill move in basis points")
    parser.add_argument("--fill", default="next_open", help="next_open (default) or close")
    parser.add_argument("--initial-cash", type=float, default=10_000.0, help="starting cash (default 10000)")
    parser.add_argument("--no-cache", action="store_true", help="bypass the DAL cache")
    parser.add_argument(
        "--prior-model",
        default="beta",
        help="win probabilities to size with: beta (default), promoted (the strategy's champion model, "
        "Beta when none) or a model version",
    )
    parser.add_argument(
        "--warmup-bars",
        type=int,
        default=None,
        help="history bars fetched before --start for indicators, regimes and priors (default 250; 0: none)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="publish the run's bars, signals and regimes to bars.raw, signals.enriched and "
        "regimes.snapshot on the configured bus (keyed by symbol, correlation id = run id)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    parser.add_argument(
        "--debug", action="store_true", help="debug logs, including prob=... frac=... per bar"
    )
    return parser


def request_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~app.backtest.service.BacktestRequest` the flags describe (the API's body model).

    Raises:
        InputError: a flag's value is malformed or out of range (named in the message).
    """
    from pydantic import ValidationError

    from app.backtest.service import DEFAULT_WARMUP_BARS, BacktestRequest, check_backtest_values
    from app.risk.sizing import SIZING_METHODS

    start = parse_when(args.start, "--start")
    end = parse_when(args.end, "--end")
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise InputError("--start and --end must both be dates or both be timestamps")
    if end < start:
        raise InputError(f"--end {args.end} is before --start {args.start}")
    if args.risk_agent not in SIZING_METHODS:
        raise InputError(f"unknown --risk-agent {args.risk_agent!r} (known: {', '.join(SIZING_METHODS)})")
    if args.fill not in ("next_open", "close"):
        raise InputError(f"--fill must be next_open or close, got {args.fill!r}")
    warmup_bars = DEFAULT_WARMUP_BARS if args.warmup_bars is None else args.warmup_bars
    check_backtest_values(
        start=start,
        end=end,
        warmup_bars=warmup_bars,
        initial_cash=args.initial_cash,
        commission=args.commission,
        slippage_bps=args.slippage_bps,
        risk_agent_fraction=args.risk_agent_fraction,
    )
    try:
        return BacktestRequest(
            symbol=args.symbol,
            start=start,
            end=end,
            strategy=args.strategy,
            params=dict(_param(p) for p in args.param),
            dal_vendor=args.dal_vendor,
            dal_interval=args.dal_interval,
            use_probabilistic=args.use_probabilistic,
            risk_agent=args.risk_agent,
            risk_agent_fraction=args.risk_agent_fraction,
            regime_aware_sizing=args.regime_aware_sizing,
            allow_short=args.allow_short,
            commission=args.commission,
            slippage_bps=args.slippage_bps,
            fill=args.fill,
            initial_cash=args.initial_cash,
            warmup_bars=warmup_bars,
            prior_model=args.prior_model,
        )
    except ValidationError as exc:
        raise InputError("; ".join(_flag_problem(e["loc"], e["msg"]) for e in exc.errors())) from None


def _flag_problem(loc: tuple[int | str, ...], message: str) -> str:
    """One validation problem, named by its flag (``--risk-agent-fraction: ...``)."""
    text = message.removeprefix("Value error, ")
    if not loc:
        return text
    return f"--{'-'.join(str(p) for p in loc).replace('_', '-')}: {text}"


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from app.backtest.service import run_request, summary_json
    from app.bootstrap import Container
    from app.config import load_settings
    from app.observability import configure_logging

    settings = load_settings()
    configure_logging("DEBUG" if args.debug else settings.LOG_LEVEL, json_lines=False)
    if not args.debug:
        logging.getLogger("app.backtest").setLevel(logging.INFO)
    for noisy in ("fsspec", "asyncio", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    request = request_from_args(args)
    with Container(settings) as container:
        bus = container.bus if args.publish else None  # a bus that cannot be opened stops the run first
        if container.backtest_deps.database is not None:
            container.db.upgrade()  # a one-shot CLI process brings its own schema up to date
        run = run_request(
            settings,
            request,
            container.backtest_deps,
            source="cli",
            data_path=args.data_path,
            use_cache=not args.no_cache,
        )
        summary = summary_json(run)
        if bus is not None:
            from app.bus.market_events import publish_market_frames

            published = publish_market_frames(
                bus,
                settings,
                run.fetch.symbol,
                bars=run.fetch.bars,
                signals=run.signals,
                regimes=run.regimes,
                vendor=run.fetch.vendor,
                interval=run.fetch.interval,
                correlation_id=run.run_id,
            )
            summary["published"] = published.counts
            logging.getLogger("app.backtest").info(
                "published %d market events: %s", published.total, published.counts
            )
    return summary


def main(argv: Sequence[str] | None = None, prog: str = SHIM_PROG) -> int:
    """Parse ``argv``, run the backtest and return the exit code (0, 1 or 2)."""
    args = build_parser(prog).parse_args(argv)
    try:
        summary = _run(args)
    except (ConfigError, InputError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except AiTraderError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except Exception as exc:
        # imported here: app.failures loads SQLAlchemy and the storage schema (~0.3 s CPU),
        # which a backtest never needs otherwise
        from app.failures import EDGE_FAILURES, describe_failure

        if not isinstance(exc, EDGE_FAILURES):
            raise
        sys.stderr.write(f"error: {describe_failure(exc)}\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    else:
        sys.stdout.write(
            f"{summary['symbol']} {summary['strategy']} ({summary['vendor']} {summary['interval']}): "
            f"{summary['bars']} bars, {summary['num_trades']} trades, final equity "
            f"{summary['final_equity']:.2f} ({summary['total_return']:+.2%}); "
            f"prob_frame_path={summary['prob_frame_path']}\n"
        )
        if summary.get("prob_frame_blob_uri"):
            sys.stdout.write(f"prob_frame_blob_uri={summary['prob_frame_blob_uri']}\n")
        elif summary.get("prob_frame_blob_error"):
            sys.stdout.write(f"prob_frame_blob_error={summary['prob_frame_blob_error']}\n")
    return 0
