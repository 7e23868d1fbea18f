"""``ai-trader consumer``: the bus consumers, with the runbook's ``KEY=VALUE`` arguments."""

from __future__ import annotations

import os

import typer

from app.observability import COMPONENT_ENV

__all__ = ["consumer_app"]

consumer_app = typer.Typer(
    help="Bus consumers (run until stopped, or IDLE_EXIT_SECONDS=N).", no_args_is_help=True
)


@consumer_app.command("orders", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def orders_command(
    args: list[str] = typer.Argument(
        None,
        metavar="KEY=VALUE",
        help="Overrides such as EH_HUB_ORDERS=exec.orders IDLE_EXIT_SECONDS=5.",
    ),
) -> None:
    """Persist exec.orders events into trading.orders / trading.fills (same as scripts/order_consumer.py)."""
    from app.workers.order_consumer import main

    code = main(args or [])
    if code:
        raise typer.Exit(code)


@consumer_app.command("sweeps", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweeps_command(
    args: list[str] = typer.Argument(
        None,
        metavar="KEY=VALUE",
        help="Overrides such as EH_HUB_JOBS=backtest.jobs IDLE_EXIT_SECONDS=5.",
    ),
) -> None:
    """Start a sweep for each job on backtest.jobs (same as scripts/sweep_job_consumer.py)."""
    from app.workers.sweep_job_consumer import main

    os.environ.setdefault(COMPONENT_ENV, "sweep-consumer")  # its log lines, and its sweep runs'
    code = main(args or [])
    if code:
        raise typer.Exit(code)
