"""``ai-trader portfolio``: the position book, its history and reconciliation with the broker."""

from __future__ import annotations

import getpass
import json

import typer
from rich.table import Table

from app.cli.common import console, container_or_exit
from app.execution.factory import broker_label
from app.storage.repositories.portfolio import MAX_HISTORY, PortfolioRepository
from app.workers.portfolio import (
    portfolio_summary,
    position_dict,
    reconcile_book,
    snapshot_dict,
    take_snapshot,
)

__all__ = ["portfolio_app"]

portfolio_app = typer.Typer(
    help="The position book of the configured broker's account (simulated, alpaca-paper, alpaca-live).",
    no_args_is_help=True,
)


def _default_who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@portfolio_app.command("show")
def portfolio_show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Positions, the latest marked snapshot and the day's P&L."""
    with container_or_exit(migrate=True) as container:
        summary = portfolio_summary(container)
    today = summary.today
    rows = [position_dict(p) for p in summary.positions]
    data = {
        "account": summary.account,
        "positions": rows,
        "latest_snapshot": snapshot_dict(summary.latest) if summary.latest else None,
        "today_pnl": None
        if today is None
        else {
            "total": str(today.total),
            "realised": str(today.realised),
            "unrealised": str(today.unrealised),
        },
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console.print(f"account [bold]{summary.account}[/bold]")
    table = Table("symbol", "side", "qty", "avg cost", "realised P&L", "last fill")
    for p in rows:
        table.add_row(
            p["symbol"], p["side"], p["qty"], p["avg_cost"], p["realised_pnl"], p["last_fill_ts"] or "-"
        )
    console.print(table if summary.positions else "no open positions")
    latest = summary.latest
    if latest is None:
        console.print(
            "not marked to market yet (the 18:00 reports job or `ai-trader portfolio snapshot` does)"
        )
    else:
        console.print(
            f"equity {latest.equity:,.2f}  cash {latest.cash:,.2f}  gross {latest.gross_exposure:,.2f}  "
            f"net {latest.net_exposure:,.2f}  unrealised {latest.unrealised_pnl:,.2f}  "
            f"drawdown {latest.drawdown:.2%}  (marked {latest.at.isoformat()})"
        )
    if today is not None:
        console.print(f"today's P&L {today.total:,.2f} (realised {today.realised:,.2f})")


@portfolio_app.command("history")
def portfolio_history(
    limit: int = typer.Option(30, "--limit", min=1, max=MAX_HISTORY, help="Newest N snapshots."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Stored snapshots, newest first."""
    with container_or_exit(migrate=True) as container:
        account = broker_label(container.settings)
        items = PortfolioRepository(container.db).history(account, limit=limit)
    if as_json:
        typer.echo(json.dumps([snapshot_dict(s) for s in items], indent=2))
        return
    table = Table("ts", "equity", "cash", "gross", "net", "realised", "unrealised", "drawdown")
    for s in items:
        table.add_row(
            s.at.isoformat(),
            f"{s.equity:,.2f}",
            f"{s.cash:,.2f}",
            f"{s.gross_exposure:,.2f}",
            f"{s.net_exposure:,.2f}",
            f"{s.realised_pnl:,.2f}",
            f"{s.unrealised_pnl:,.2f}",
            f"{s.drawdown:.2%}",
        )
    console.print(table if items else f"no snapshots for {account}")


@portfolio_app.command("snapshot")
def portfolio_snapshot(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Mark the book to each symbol's latest close (SCHEDULE_DAL_VENDOR) and store the snapshot
    (at the platform's clock: REPLAY_CLOCK_FILE when set)."""
    with container_or_exit(migrate=True) as container:
        snapshot = take_snapshot(container)
    data = snapshot_dict(snapshot)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        console.print(f"snapshot stored: equity {snapshot.equity:,.2f}, drawdown {snapshot.drawdown:.2%}")


@portfolio_app.command("reconcile")
def portfolio_reconcile(
    apply: bool = typer.Option(
        False, "--apply", help="Record adjusting entries so the book equals the broker."
    ),
    who: str | None = typer.Option(None, "--who", help="Who is reconciling (default cli:<user>)."),
    why: str = typer.Option("operator reconciliation", "--why", help="Why (recorded with each entry)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare the book with the broker and print every difference.

    Exit code 0 when book and broker agree (or --apply aligned them), 3 when differences remain.
    """
    with container_or_exit(migrate=True) as container:
        outcome = reconcile_book(container, apply=apply, who=who or _default_who(), why=why)
    data = outcome.to_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        report = outcome.report
        console.print(
            f"account [bold]{report.account}[/bold]: {len(report.differences)} difference(s), "
            f"{len(report.open_orders)} open order(s) at the broker"
        )
        for difference in report.differences:
            console.print(f"  {difference.describe()}  -> {difference.action}", highlight=False)
        if outcome.applied:
            console.print(f"applied {len(report.entries)} adjusting entries (source reconcile)")
        elif report.differences:
            console.print("not applied: run again with --apply to make the book equal the broker")
    if outcome.unresolved:
        raise typer.Exit(3)


@portfolio_app.command("acknowledge")
def portfolio_acknowledge(
    who: str = typer.Option(..., "--who", help="Who acknowledges (recorded)."),
    why: str = typer.Option(..., "--why", help="Why (recorded with the entries and the governor change)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Accept the broker's figures after an unexplained difference latched the governor.

    Sets the book to the broker in the symbols no open order explains (adjusting entries with
    --who/--why), then clears the `reconcile:` latch (REDUCING back to ACTIVE). Exit code 2 when
    the governor is not latched by reconciliation, 1 when the broker or database failed.
    """
    from app.workers.reconciliation import acknowledge

    with container_or_exit(migrate=True) as container:
        done = acknowledge(container, who=who, why=why)
    if as_json:
        typer.echo(json.dumps(done.to_dict(), indent=2))
        return
    console.print(f"acknowledged [bold]{done.cleared}[/bold] ({done.who}: {done.why})", highlight=False)
    for difference in done.applied:
        console.print(f"  book set to the broker: {difference.describe()}", highlight=False)
