"""``ai-trader sweep run``: one parameter sweep (what the sweep job runs), from the command line."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["sweep_app"]

sweep_app = typer.Typer(help="Parameter sweeps: grid -> batch kernel -> leaderboard.", no_args_is_help=True)

_RAW_ARGS: dict[str, Any] = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}
"""Hand the arguments, ``--help`` included, to the command's own parser (one set of options)."""


@sweep_app.command("run", context_settings=_RAW_ARGS, add_help_option=False)
def run_command(ctx: typer.Context) -> None:
    """Run one sweep, configured like scripts/sweep_job_entry.py (env vars; options override them).

    Options: --config PATH (SWEEP_CONFIG_PATH), --config-blob blob://configs/FILE
    (SWEEP_CONFIG_BLOB), --output-dir DIR (SWEEP_OUTPUT_DIR), --job-id ID (SWEEP_JOB_ID).
    """
    from app.workers.sweep_job_entry import main

    raise typer.Exit(main(list(ctx.args), prog="ai-trader sweep run"))
