"""``ai-trader bus``: show and create the event bus topology, inspect lag and dead letters."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from typing import Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from app.cli.common import console, container_or_exit, settings_or_exit
from app.errors import ConfigError

__all__ = ["bus_app"]

bus_app = typer.Typer(help="Event bus: hubs, consumer groups, lag and dead letters.", no_args_is_help=True)

_ENV_KEYS = {
    "bars": "EH_HUB_BARS",
    "signals": "EH_HUB_SIGNALS",
    "regimes": "EH_HUB_REGIMES",
    "jobs": "EH_HUB_JOBS",
    "orders": "EH_HUB_ORDERS",
}


@bus_app.command("topology")
def topology_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print the hubs, partitions, retention and consumer groups, and the backend in use."""
    from app.bus.topology import topology

    settings = settings_or_exit()
    hubs = topology(settings)
    backend = settings.bus_backend
    if as_json:
        payload = {
            "backend": {"kind": backend.kind, "target": backend.target, "reason": backend.reason},
            "hubs": [
                {
                    "role": h.role,
                    "name": h.name,
                    "env_key": _ENV_KEYS[h.role],
                    "partitions": h.partitions,
                    "retention_hours": h.retention_hours,
                    "consumer_groups": list(h.consumer_groups),
                }
                for h in hubs
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"Event bus: {backend.kind} ({backend.target})")
    for column in ("hub", "env key", "partitions", "retention h"):
        table.add_column(column, no_wrap=True)  # names an operator copies must never be cut
    table.add_column("consumer groups")
    for h in hubs:
        table.add_row(
            h.name, _ENV_KEYS[h.role], str(h.partitions), str(h.retention_hours), ", ".join(h.consumer_groups)
        )
    console.print(table)


@bus_app.command("provision")
def provision_command(
    resource_group: str = typer.Option("ai-trader-rg", help="Azure resource group (eventhubs backend)."),
    namespace: str | None = typer.Option(
        None, help="Event Hubs namespace (eventhubs backend; default: first label of EH_FQDN)."
    ),
    apply: bool = typer.Option(False, "--apply", help="Run the az commands instead of printing them."),
) -> None:
    """Create the hubs and consumer groups on the configured backend.

    Local log and Redis are created directly. For Event Hubs the equivalent ``az eventhubs``
    commands and the runbook's verification query are printed, or run with ``--apply``.
    """
    from app.bus.provisioning import az_provision_commands, az_verify_command, namespace_from_fqdn
    from app.bus.topology import topology

    with container_or_exit() as container:
        settings = container.settings
        if settings.bus_backend.kind != "eventhubs":
            for line in container.bus.provision():
                console.print(line, highlight=False)
            return
        ns = namespace or namespace_from_fqdn(settings.EH_FQDN)
        commands = [*az_provision_commands(topology(settings), resource_group, ns)]
        verify = az_verify_command(resource_group, ns)
        if not apply:
            for command in [*commands, verify]:
                typer.echo(shlex.join(command))
            return
        if shutil.which("az") is None:
            raise ConfigError(
                "--apply needs the Azure CLI (az) on PATH; run without --apply to print commands"
            )
        for command in [*commands, verify]:
            console.print(f"$ {shlex.join(command)}", highlight=False)
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                raise typer.Exit(1)


@bus_app.command("lag")
def lag_command(
    hub: str = typer.Argument(..., help="Hub name, e.g. exec.orders."),
    group: str = typer.Argument(..., help="Consumer group, e.g. orchestrator."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show events and seconds behind per partition for one consumer group.

    ``--json`` prints ``{hub, group, events_behind (sum), seconds_behind (max), partitions:
    [{partition, events_behind, seconds_behind}]}``.
    """
    with container_or_exit() as container:
        consumer = container.bus.consumer(hub, group)
        try:
            lag = consumer.lag()
        finally:
            consumer.close()
    if as_json:
        payload = {
            "hub": hub,
            "group": group,
            "events_behind": sum(entry.events_behind for entry in lag),
            "seconds_behind": max((entry.seconds_behind for entry in lag), default=0.0),
            "partitions": [
                {
                    "partition": entry.partition,
                    "events_behind": entry.events_behind,
                    "seconds_behind": entry.seconds_behind,
                }
                for entry in lag
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"Lag of {group} on {hub}")
    for column in ("partition", "events behind", "seconds behind"):
        table.add_column(column)
    for entry in lag:
        table.add_row(str(entry.partition), str(entry.events_behind), f"{entry.seconds_behind:.1f}")
    console.print(table)


class _ListByDefault(TyperGroup):
    """``dead-letters HUB GROUP`` lists (as it always did); ``dead-letters replay ...`` replays."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer vendors click's Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


dead_letters_app = typer.Typer(
    cls=_ListByDefault,
    help="Dead-lettered events of a consumer group: list them (the default) or replay them.",
    no_args_is_help=True,
)
bus_app.add_typer(dead_letters_app, name="dead-letters")


@dead_letters_app.command("list")
def dead_letters_command(
    hub: str = typer.Argument(..., help="Hub name."),
    group: str = typer.Argument(..., help="Consumer group."),
    limit: int = typer.Option(20, min=1, help="Newest N."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List the newest dead-lettered events of a group with their reasons.

    ``--json`` prints ``[{hub, group, partition, offset, reason, recorded_at, raw, id,
    replayed_at}]``, where ``raw`` is the event's bytes as UTF-8 text (undecodable bytes
    replaced) and ``id`` is what ``replay --id`` takes.
    """
    with container_or_exit() as container:
        letters = container.bus.dead_letters(hub, group, limit)
    if as_json:
        rows = [
            {
                "hub": letter.hub,
                "group": letter.group,
                "partition": letter.partition,
                "offset": letter.offset,
                "reason": letter.reason,
                "recorded_at": letter.recorded_at.isoformat(),
                "raw": letter.raw.decode("utf-8", errors="replace"),
                "id": letter.id,
                "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
            }
            for letter in letters
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Dead letters of {group} on {hub}")
    for column in ("recorded", "partition", "offset", "reason", "id", "replayed"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            letter.recorded_at.isoformat(timespec="seconds"),
            str(letter.partition),
            letter.offset,
            letter.reason,
            letter.id,
            letter.replayed_at.isoformat(timespec="seconds") if letter.replayed_at else "",
        )
    console.print(table)


@dead_letters_app.command("replay")
def dead_letters_replay_command(
    hub: str = typer.Argument(..., help="Hub name."),
    group: str = typer.Argument(..., help="Consumer group."),
    ids: list[str] = typer.Option([], "--id", help="A dead letter's id (from the listing); repeatable."),
    replay_all: bool = typer.Option(False, "--all", help="Every dead letter of the group not yet replayed."),
    include_replayed: bool = typer.Option(False, help="Also publish ones replayed before."),
    dry_run: bool = typer.Option(False, help="Show what would be published; publish nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Publish dead letters to their hub again (unchanged) and mark them replayed.

    Fix what made the consumer refuse them first; an event it refuses again becomes a new
    dead letter. Events that are not valid envelopes are reported and left alone.
    """
    from app.bus.replay import replay_dead_letters

    with container_or_exit() as container:
        outcome = replay_dead_letters(
            container.bus,
            hub,
            group,
            ids=ids,
            replay_all=replay_all,
            include_replayed=include_replayed,
            dry_run=dry_run,
        )
    verb = "would replay" if dry_run else "replayed"
    if as_json:
        body = {
            "dry_run": dry_run,
            "replayed": [letter.id for letter in outcome.replayed],
            "skipped": [{"id": letter.id, "reason": why} for letter, why in outcome.skipped],
        }
        typer.echo(json.dumps(body, indent=2))
        return
    console.print(f"{verb} {len(outcome.replayed)} dead letter(s) of {group} to {hub}")
    for letter, why in outcome.skipped:
        console.print(f"[yellow]skipped[/yellow] {letter.id}: {why}", highlight=False)
