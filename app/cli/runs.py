"""``ai-trader backtest run`` and ``ai-trader sweep run``: the runbook's entry points in the CLI.

Each forwards its arguments, ``--help`` included, to the one parser its runbook command uses
(``python -m app.backtest.run_breakout``, ``scripts/sweep_job_entry.py``), so the options,
outputs and exit codes are the same by construction.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["RAW_ARGS", "backtest_app", "sweep_app"]

RAW_ARGS: dict[str, Any] = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}
"""Hand the arguments, ``--help`` included, to the command's own parser (one set of options)."""

backtest_app = typer.Typer(
    help="Backtests: one DAL-backed run with priors, sizing and the engine.", no_args_is_help=True
)
sweep_app = typer.Typer(help="Parameter sweeps: grid -> batch kernel -> leaderboard.", no_args_is_help=True)


@backtest_app.command("run", context_settings=RAW_ARGS, add_help_option=False)
def backtest_run(ctx: typer.Context) -> None:
    """Backtest a strategy on DAL bars (the options of python -m app.backtest.run_breakout).

    Options: --symbol, --start, --end, --strategy (required), --param KEY=VALUE, --dal-vendor,
    --dal-interval, --use-probabilistic, --risk-agent, --risk-agent-fraction,
    --regime-aware-sizing, --publish, --json ...; --help lists them all.
    """
    from app.cli.backtest import main

    raise typer.Exit(main(list(ctx.args), prog="ai-trader backtest run"))


@sweep_app.command("run", context_settings=RAW_ARGS, add_help_option=False)
def sweep_run(ctx: typer.Context) -> None:
    """Run one sweep, configured like scripts/sweep_job_entry.py (env vars; options override them).

    Options: --config PATH (SWEEP_CONFIG_PATH), --config-blob blob://configs/FILE
    (SWEEP_CONFIG_BLOB), --output-dir DIR (SWEEP_OUTPUT_DIR), --job-id ID (SWEEP_JOB_ID).
    """
    from app.workers.sweep_job_entry import main

    raise typer.Exit(main(list(ctx.args), prog="ai-trader sweep run"))


@backtest_app.command("portfolio")
def backtest_portfolio_command(
    symbols: str = typer.Option(..., "--symbols", help="Comma-separated tickers traded on shared cash."),
    strategy: str = typer.Option(..., "--strategy", help="A registered strategy."),
    start: str = typer.Option(..., "--start", help="First traded day (YYYY-MM-DD) or ISO timestamp."),
    end: str = typer.Option(..., "--end", help="Last day (YYYY-MM-DD) or ISO timestamp."),
    param: list[str] = typer.Option([], "--param", help="KEY=VALUE strategy parameter (repeatable)."),
    dal_vendor: str = typer.Option("synthetic", "--dal-vendor", help="Market-data vendor."),
    dal_interval: str = typer.Option("1Day", "--dal-interval", help="Bar interval."),
    risk_agent: str = typer.Option("fractional_kelly", "--risk-agent", help="Sizing agent."),
    risk_agent_fraction: float = typer.Option(0.5, "--risk-agent-fraction", help="Kelly scale / fraction."),
    regime_aware_sizing: bool = typer.Option(False, "--regime-aware-sizing", help="Scale size by regime."),
    allow_short: bool = typer.Option(False, "--allow-short", help="Trade short signals."),
    use_probabilistic: bool = typer.Option(False, "--use-probabilistic", help="Priors for any agent."),
    prior_model: str = typer.Option("beta", "--prior-model", help="beta, promoted or a model version."),
    commission: float = typer.Option(0.0, "--commission", help="Fraction of notional per side."),
    slippage_bps: float = typer.Option(0.0, "--slippage-bps", help="Adverse fill move in basis points."),
    fill: str = typer.Option("next_open", "--fill", help="next_open or close."),
    initial_cash: float = typer.Option(100_000.0, "--initial-cash", help="Starting cash."),
    warmup_bars: int = typer.Option(250, "--warmup-bars", help="History bars before --start (indicators)."),
    max_weight: float = typer.Option(0.25, "--max-weight", help="Largest weight of one symbol."),
    max_gross: float = typer.Option(1.0, "--max-gross", help="Largest gross exposure (1 = no leverage)."),
    max_positions: int = typer.Option(20, "--max-positions", help="Most symbols held at once."),
    max_drawdown: float = typer.Option(1.0, "--max-drawdown", help="Drawdown latching reducing."),
    min_trade_notional: float = typer.Option(0.0, "--min-trade-notional", help="Smallest order notional."),
    cap_mode: str = typer.Option(
        "governor",
        "--cap-mode",
        help="governor: refuse a whole order that breaches a cap, symbols in the listed (routing) order, "
        "as the live governor does; scale: clip, cut and scale the weights to fit.",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the DAL cache."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary."),
) -> None:
    """Backtest many symbols on one pool of cash with the live loop's sizing and caps."""
    import json

    from pydantic import ValidationError

    from app.backtest.portfolio_run import PortfolioRequest, run_portfolio_request
    from app.backtest.service import BacktestDeps
    from app.cli.backtest import parse_when
    from app.cli.common import console, container_or_exit
    from app.errors import InputError

    with container_or_exit() as container:
        pairs: dict[str, str] = {}
        for text in param:
            key, sep, value = text.partition("=")
            if not sep or not key.strip():
                raise InputError(f"--param: expected KEY=VALUE, got {text!r}")
            pairs[key.strip()] = value.strip()
        try:
            request = PortfolioRequest(
                symbols=symbols.split(","),
                start=parse_when(start, "--start"),
                end=parse_when(end, "--end"),
                strategy=strategy,
                params=pairs,
                dal_vendor=dal_vendor,
                dal_interval=dal_interval,
                risk_agent=risk_agent,
                risk_agent_fraction=risk_agent_fraction,
                regime_aware_sizing=regime_aware_sizing,
                allow_short=allow_short,
                use_probabilistic=use_probabilistic,
                prior_model=prior_model,
                commission=commission,
                slippage_bps=slippage_bps,
                fill=fill,
                initial_cash=initial_cash,
                warmup_bars=warmup_bars,
                max_weight=max_weight,
                max_gross=max_gross,
                max_positions=max_positions,
                max_drawdown=max_drawdown,
                min_trade_notional=min_trade_notional,
                cap_mode=cap_mode,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors()
            )
            raise InputError(problems) from None
        # a portfolio run records nothing in the database: no database client is opened for it
        deps = BacktestDeps(
            market_data=container.market_data,
            risk_defaults=container.risk_defaults,
            frames=container.frame_publisher,
            prior_models=container.prior_models,
        )
        run = run_portfolio_request(container.settings, request, deps, use_cache=not no_cache)
    summary = run.summary
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    console.print(
        f"portfolio {summary['strategy']}  symbols={len(summary['symbols'])}  bars={summary['bars']}  "
        f"final_equity={summary['final_equity']:.2f}  total_return={summary['total_return']:.4f}  "
        f"max_drawdown={summary['max_drawdown']:.4f}  fills={summary['fills']}  "
        f"cap_mode={summary['cap_mode']}"
    )
    for reason, count in summary["refused"].items():
        console.print(f"  refused {reason}={count}")
    for symbol, pnl in summary["pnl_by_symbol"].items():
        console.print(f"  {symbol:<12} pnl={pnl:.2f}")
    console.print(f"prob_frame_path={summary['frame_path']}")
