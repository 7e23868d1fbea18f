"""``ai-trader venue``: follow the venue's order updates, and expire orders past their time in force."""

from __future__ import annotations

from datetime import datetime

import typer

from app.observability import COMPONENT_ENV

__all__ = ["venue_app"]

venue_app = typer.Typer(
    help="Order lifecycle from the venue: its update stream and the time-in-force sweep.",
    no_args_is_help=True,
)

_KV = {"allow_extra_args": True, "ignore_unknown_options": True}


@venue_app.command("stream", context_settings=_KV)
def stream_command(
    args: list[str] = typer.Argument(
        None,
        metavar="KEY=VALUE",
        help="Overrides such as BROKER=alpaca ALPACA_STREAM_URL=wss://... VENUE_MAX_FRAME_AGE_S=30.",
    ),
) -> None:
    """Publish the venue's order updates to exec.orders until stopped (SIGTERM / Ctrl-C).

    With BROKER=alpaca: the trade_updates stream, a catch-up after every (re)connect, and the
    time-in-force sweep of orders that never reached Alpaca. With the simulated broker: the
    sweep only.
    """
    import os

    from app.workers.venue_updates import WORKER_NAME, main

    os.environ.setdefault(COMPONENT_ENV, WORKER_NAME)
    code = main(args or [])
    if code:
        raise typer.Exit(code)


@venue_app.command("sweep", context_settings=_KV)
def sweep_command(
    args: list[str] = typer.Argument(None, metavar="KEY=VALUE", help="Settings overrides."),
    at: str | None = typer.Option(
        None, help="Sweep as of this ISO time with a zone (default: now), e.g. 2026-11-27T18:05:00+00:00."
    ),
) -> None:
    """Expire, once, every open order past its time in force, and print each one."""
    from app.workers.venue_updates import main

    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise typer.BadParameter(f"not an ISO date-time: {at!r}", param_hint="--at") from None
        if moment.tzinfo is None:
            raise typer.BadParameter("give a time zone (+00:00, Z ...)", param_hint="--at")
    code = main(args or [], sweep_only=True, at=moment)
    if code:
        raise typer.Exit(code)
