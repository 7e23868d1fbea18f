"""``ai-trader``: run and operate the platform.

Sub-command groups live in their own modules and are registered here.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from app.cli.azure import azure_app
from app.cli.bus import bus_app
from app.cli.common import console, container_or_exit, err_console, exit_on_error, settings_or_exit
from app.cli.consumer import consumer_app
from app.cli.data import data_app
from app.cli.router import kill_switch_app, router_app
from app.cli.runs import backtest_app, sweep_app
from app.cli.schedule import schedule_app
from app.cli.strategy import strategy_app
from app.cli.ui import ui_command
from app.cli.up import up_command
from app.cli.venue import venue_app

app = typer.Typer(
    name="ai-trader",
    help="AI-assisted equities trading: data, backtests, router, bus and API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Effective settings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(backtest_app, name="backtest")
app.add_typer(sweep_app, name="sweep")
app.add_typer(bus_app, name="bus")
app.add_typer(azure_app, name="azure")
app.add_typer(config_app, name="config")
app.add_typer(consumer_app, name="consumer")
app.add_typer(data_app, name="data")
app.command("up", help="Start the whole platform on the configured (default: embedded) backends.")(up_command)
app.add_typer(kill_switch_app, name="kill-switch")
app.add_typer(router_app, name="router")
app.command("ui")(ui_command)
app.add_typer(schedule_app, name="schedule")
app.add_typer(strategy_app, name="strategy")
app.add_typer(venue_app, name="venue")


@app.command("api")
def api_command(
    host: str | None = typer.Option(None, help="Bind address (default API_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default WEBSITES_PORT, then PORT, then 8000)."),
    migrate: bool = typer.Option(
        True, help="Apply database migrations (in the background, retried while the database is down)."
    ),
) -> None:
    """Serve the HTTP API.

    The API serves even while the database is down: ``/health/live`` answers 200,
    ``/health/ready`` 503 naming the database, and migrations are retried until it appears."""
    from app.api.server import check_bind, serve

    settings = settings_or_exit("api")
    with exit_on_error():
        check_bind(settings, host or settings.API_HOST)
        serve(settings, host, port, migrate=migrate)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations (idempotent)."""
    with container_or_exit() as container:
        settings = container.settings
        container.db.upgrade(revision)
        current = container.db.current_revision()
        console.print(
            f"database [bold]{settings.database_backend.kind}[/bold] at "
            f"{settings.database_backend.target} is at revision [bold]{current}[/bold]"
        )


@config_app.command("show")
def config_show(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
    """Print the effective settings (secrets masked) and the backend each concern resolved to."""
    settings = settings_or_exit()
    backends = {
        "database": settings.database_backend,
        "blob": settings.blob_backend,
        "bus": settings.bus_backend,
        "checkpoints": settings.checkpoint_backend,
        "sweep_dispatch": settings.sweep_dispatch_backend,
    }
    values = settings.public_dict()
    if as_json:
        payload = {
            "backends": {
                k: {"kind": b.kind, "target": b.target, "reason": b.reason} for k, b in backends.items()
            },
            "settings": values,
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    table = Table(title="Backends")
    for column in ("concern", "backend"):
        table.add_column(column, no_wrap=True)
    table.add_column("target", overflow="fold")  # a path or URL is folded, never cut short
    table.add_column("why")
    for name, backend in backends.items():
        table.add_row(name, backend.kind, backend.target, backend.reason)
    console.print(table)
    settings_table = Table(title="Settings")
    settings_table.add_column("key", no_wrap=True)
    settings_table.add_column("value", overflow="fold")
    for key, value in values.items():
        settings_table.add_row(key, "" if value is None else str(value))
    console.print(settings_table)


def main() -> None:
    """Console-script entry point: a failure no command handled is one line and exit 1."""
    from app.failures import EDGE_FAILURES, describe_failure

    try:
        app()
    except EDGE_FAILURES as exc:
        err_console.print(f"[red]error:[/red] {describe_failure(exc)}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
