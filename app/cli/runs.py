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
