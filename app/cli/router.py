"""``ai-trader router run`` and ``ai-trader kill-switch on|off|status``."""

from __future__ import annotations

import json
from typing import Any

import typer

from app.cli.common import console, exit_on_error, settings_or_exit

__all__ = ["kill_switch_app", "router_app"]

router_app = typer.Typer(help="The order router (LangGraph): bar -> priors -> sizing -> guard -> orders.")
kill_switch_app = typer.Typer(help="The global kill switch that refuses every order while on.")


def _status_dict(status: Any) -> dict[str, Any]:
    return {
        "active": status.active,
        "reason": status.reason,
        "actor": status.actor,
        "updated_at": status.updated_at.isoformat() if status.updated_at else None,
        "trips": status.trips,
        "trips_total": status.trips_total,
    }


def _print_status(status: Any, as_json: bool) -> None:
    data = _status_dict(status)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    state = "[red bold]ON[/red bold]" if status.active else "[green]off[/green]"
    who = f"reason: {status.reason or '-'}, by {status.actor or '-'}, at {data['updated_at'] or '-'}"
    console.print(f"kill switch {state}  ({who})")
    trips = ", ".join(f"{reason} {count}" for reason, count in status.trips.items())
    console.print(f"trips: {status.trips_total} total ({trips})")


def _set(active: bool, reason: str, actor: str, as_json: bool) -> None:
    from app.risk.kill_switch import KillSwitchStore
    from app.storage.db import Database

    settings = settings_or_exit()
    with exit_on_error():
        database = Database.from_settings(settings)
        try:
            database.upgrade()
            _print_status(KillSwitchStore(database).set(active, reason=reason, actor=actor), as_json)
        finally:
            database.dispose()


@kill_switch_app.command("on")
def kill_switch_on(
    reason: str = typer.Option(..., "--reason", "-r", help="Why every order is being stopped."),
    actor: str = typer.Option("cli", "--actor", help="Who is turning it on (recorded)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Turn the global kill switch on: no order is published or executed until it is off."""
    _set(True, reason, actor, as_json)


@kill_switch_app.command("off")
def kill_switch_off(
    reason: str = typer.Option(..., "--reason", "-r", help="Why orders may flow again."),
    actor: str = typer.Option("cli", "--actor", help="Who is turning it off (recorded)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Turn the global kill switch off."""
    _set(False, reason, actor, as_json)


@kill_switch_app.command("status")
def kill_switch_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the switch, who set it and why, and how often each guard has refused an order."""
    from app.risk.kill_switch import KillSwitchStore
    from app.storage.db import Database

    settings = settings_or_exit()
    with exit_on_error():
        database = Database.from_settings(settings)
        try:
            database.upgrade()
            _print_status(KillSwitchStore(database).status(), as_json)
        finally:
            database.dispose()
