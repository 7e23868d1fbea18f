"""``ai-trader models list|show|restore``: the win-probability models in the registry."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.table import Table

from app.cli.common import console, container_or_exit

__all__ = ["models_app"]

models_app = typer.Typer(
    help="Win-probability models: list, show a card, restore the previous champion.", no_args_is_help=True
)


@models_app.command("list")
def list_command(
    strategy: str = typer.Argument(..., help="The strategy whose models to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every registered model of STRATEGY, the champion marked, with its out-of-sample Brier scores."""
    from app.models.registry import ModelRegistry

    with container_or_exit() as container:
        registry = ModelRegistry(container.blob, container.settings.BLOB_CONTAINER_MODELS)
        champion = registry.champion_version(strategy)
        rows = []
        for version in registry.versions(strategy):
            card = registry.card(strategy, version)
            rows.append(
                {
                    "version": version,
                    "champion": version == champion,
                    "created_at": card.created_at,
                    "samples": card.samples,
                    "model_brier": card.metrics["model"]["brier"],
                    "prior_brier": card.metrics["prior"]["brier"],
                    "brier_improvement": card.metrics["brier_improvement"],
                }
            )
    if as_json:
        typer.echo(json.dumps({"strategy": strategy, "champion": champion, "models": rows}, indent=2))
        return
    table = Table(title=f"Models of {strategy} (champion: {champion or 'none, Beta priors'})")
    columns = ("version", "champion", "created_at", "samples", "model Brier", "Beta Brier", "improvement")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["version"],
            "*" if row["champion"] else "",
            row["created_at"],
            str(row["samples"]),
            f"{row['model_brier']:.5f}",
            f"{row['prior_brier']:.5f}",
            f"{row['brier_improvement']:+.4f}",
        )
    console.print(table)


@models_app.command("show")
def show_command(
    strategy: str = typer.Argument(..., help="The strategy."),
    version: str | None = typer.Argument(None, help="A model version (default: the champion)."),
) -> None:
    """The card of one model (default: the champion) and the strategy's promotion decisions."""
    from app.errors import NotFoundError
    from app.models.registry import ModelRegistry

    with container_or_exit() as container:
        registry = ModelRegistry(container.blob, container.settings.BLOB_CONTAINER_MODELS)
        chosen = version or registry.champion_version(strategy)
        if chosen is None:
            raise NotFoundError(
                f"no promoted model of {strategy!r}: name a version (see `ai-trader models list`)"
            )
        card = registry.card(strategy, chosen)
        decisions = [asdict(d) for d in registry.decisions(strategy)]
    typer.echo(json.dumps({"card": asdict(card), "decisions": decisions}, indent=2, default=str))


@models_app.command("restore")
def restore_command(
    strategy: str = typer.Argument(..., help="The strategy whose previous champion comes back."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (recorded with the decision)."),
    actor: str = typer.Option("cli", "--actor", help="Who restores it (recorded)."),
) -> None:
    """Make the champion before the current one champion again (recorded with who and why)."""
    from app.errors import InputError
    from app.models.registry import ModelRegistry

    with container_or_exit() as container:
        if not reason.strip():
            raise InputError("--reason must say why the champion is restored")
        registry = ModelRegistry(container.blob, container.settings.BLOB_CONTAINER_MODELS)
        current = registry.champion_version(strategy)
        restored = registry.restore_previous(strategy, actor=actor, reason=reason.strip())
    console.print(f"{strategy}: champion {current} -> {restored} (restored by {actor}: {reason.strip()})")
