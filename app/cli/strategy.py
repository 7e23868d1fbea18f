"""``ai-trader strategy list|check``: the registered strategies and their bias checks."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from app.cli.common import console, exit_on_error
from app.errors import InputError

__all__ = ["strategy_app"]

strategy_app = typer.Typer(help="Strategies: list them, check them for look-ahead and recursive bias.")


def _params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param: expected KEY=VALUE, got {text!r}")
        out[key.strip()] = value.strip()
    return out


@strategy_app.command("list")
def list_command() -> None:
    """The registered strategies and their default parameters."""
    from app.strategies import STRATEGIES

    table = Table(title="Strategies")
    table.add_column("name", no_wrap=True)
    table.add_column("defaults")
    for name, cls in sorted(STRATEGIES.items()):
        table.add_row(name, json.dumps(cls.from_params({}).params()))
    console.print(table)


@strategy_app.command("check")
def check_command(
    name: str = typer.Argument(..., help="A registered strategy."),
    param: list[str] = typer.Option([], "--param", help="KEY=VALUE strategy parameter (repeatable)."),
    bars_file: Path | None = typer.Option(
        None, "--bars-file", help="CSV or parquet bars to replay (default: the shipped GOOG daily sample)."
    ),
    warmup: int | None = typer.Option(
        None,
        "--warmup",
        min=0,
        max=100_000,
        help="Warm-up bars (default: declared, else 3x the longest window).",
    ),
    checks: int = typer.Option(8, "--checks", min=1, max=100, help="Prefixes and truncations to replay."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Replay history to prove NAME neither looks ahead nor depends on where the data starts.

    Exit 0 when both checks pass, 1 when a bias is found (the first divergent bar is named),
    2 on bad input.
    """
    with exit_on_error():
        from dataclasses import asdict

        from app.backtest.lookahead import check_strategy
        from app.dal.filesource import SAMPLE_PATH, read_bar_file
        from app.strategies import get_strategy

        strategy = get_strategy(name, _params(param))
        bars = read_bar_file(bars_file or SAMPLE_PATH)
        result = check_strategy(strategy, bars, warmup=warmup, checks=checks)
        if as_json:
            payload = {
                "strategy": result.strategy,
                "params": result.params,
                "ok": result.ok,
                "bars": result.bars,
                "warmup": result.warmup,
                "prefixes_checked": result.prefixes_checked,
                "truncations_checked": result.truncations_checked,
                "divergences": [asdict(d) for d in result.divergences],
            }
            typer.echo(json.dumps(payload, default=str))
        else:
            console.print(result.summary(), highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)
