"""``ai-trader consumer``: the bus consumers, with the runbook's ``KEY=VALUE`` arguments."""

from __future__ import annotations

import typer

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
