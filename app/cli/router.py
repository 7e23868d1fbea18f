"""``ai-trader router run`` and ``ai-trader kill-switch on|off|status|history``."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from app.cli.common import console, container_or_exit

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
    with container_or_exit(migrate=True) as container:
        _print_status(container.kill_switch.set(active, reason=reason, actor=actor), as_json)


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
    with container_or_exit(migrate=True) as container:
        _print_status(container.kill_switch.status(), as_json)


@kill_switch_app.command("history")
def kill_switch_history(
    limit: int = typer.Option(50, "--limit", min=1, help="Newest N events."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List changes of the switch and refused orders (``kill_switch_events``), newest first."""
    with container_or_exit(migrate=True) as container:
        events = container.kill_switch.history(limit)
    if as_json:
        rows = [
            {
                "id": e.id,
                "ts": e.ts.isoformat(),
                "kind": e.kind,
                "reason": e.reason,
                "actor": e.actor,
                "symbol": e.symbol,
                "detail": e.detail,
            }
            for e in events
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Kill switch events (newest {limit})")
    for column in ("ts", "kind", "reason", "actor", "symbol"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="fold")
    for e in events:
        table.add_row(
            e.ts.isoformat(timespec="seconds"),
            e.kind,
            e.reason,
            e.actor or "",
            e.symbol or "",
            e.detail or "",
        )
    console.print(table)


@router_app.command("run")
def router_run(
    symbol: str = typer.Option(..., help="Ticker, e.g. AAPL."),
    start: str = typer.Option(..., help="First bar of the window (ISO date or time, UTC)."),
    strategy: str = typer.Option(..., help="Strategy name (momentum, mean_reversion, breakout, sma_cross)."),
    end: str | None = typer.Option(None, help="Last bar of the window (default: now)."),
    offline_mode: bool = typer.Option(False, "--offline-mode/--online", help="Use synthetic bars."),
    publish_orders: bool = typer.Option(
        False, "--publish-orders/--no-publish-orders", help="Publish on exec.orders."
    ),
    execute_orders: bool = typer.Option(
        False, "--execute-orders/--no-execute-orders", help="Send to the broker."
    ),
    kill_switch_active: bool = typer.Option(
        False, "--kill-switch-active", help="Refuse any order in this run."
    ),
    kill_switch_notional: float | None = typer.Option(None, help="Refuse an intent above this notional."),
    interval: str = typer.Option("1Day", help="Bar interval."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Run the router graph once (the same options and result as POST /router/run)."""
    from pydantic import ValidationError

    from app.errors import InputError
    from app.router.schemas import RouterRunRequest

    with container_or_exit(migrate=True) as container:
        try:
            request = RouterRunRequest(
                symbol=symbol,
                start=start,
                end=end,
                strategy=strategy,
                offline_mode=offline_mode,
                publish_orders=publish_orders,
                execute_orders=execute_orders,
                kill_switch_active=kill_switch_active,
                kill_switch_notional=kill_switch_notional,
                interval=interval,
            )
        except ValidationError as exc:
            fields = ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InputError(f"invalid value for {fields}") from None
        result = container.router.run(request)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    console.print(
        f"run {result.run_id}  {result.symbol} {result.strategy}  bars={result.bars} ({result.vendor})"
    )
    console.print("events: " + ", ".join(result.events))
    if result.intent is not None:
        intent = result.intent
        console.print(
            f"intent: {intent.side} {intent.notional} {intent.symbol}  id={intent.client_order_id}  "
            f"prob={result.prob:.3f} frac={result.frac:.4f}"
            if result.prob is not None and result.frac is not None
            else f"intent: {intent.side} {intent.notional} {intent.symbol}  id={intent.client_order_id}"
        )
    console.print(
        f"published={result.published} executed={result.executed} "
        f"fallback_reason={result.fallback_reason or '-'}  ({result.total_ms:.1f} ms)"
    )
