"""Helpers every CLI command shares: settings loading and one-line error exits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from app.bootstrap import Container
from app.config import Settings, load_settings
from app.errors import AiTraderError, ConfigError, InputError
from app.failures import EDGE_FAILURES, describe_failure
from app.observability import configure_logging

__all__ = ["console", "container_or_exit", "err_console", "exit_on_error", "settings_or_exit"]

# soft_wrap: a printed line is never broken at the terminal's width (paths and key=value lines
# stay whole for the scripts that read them); tables still fit the width.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def settings_or_exit(component: str | None = None) -> Settings:
    """Load settings and set up logging; on a malformed value print one line and exit 2.

    ``component`` names this process on log lines unless ``AI_TRADER_COMPONENT`` is set
    (default ``cli``).
    """
    with exit_on_error():
        settings = load_settings()
        configure_logging(settings.LOG_LEVEL, component=component)
        return settings
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def container_or_exit(component: str | None = None, *, migrate: bool = False) -> Iterator[Container]:
    """The command's :class:`Container` (closed on the way out), errors turned into exits.

    ``migrate`` applies the database migrations first, for commands that read or write it.
    """
    settings = settings_or_exit(component)
    with exit_on_error(), Container(settings) as container:
        if migrate:
            container.db.upgrade()
        yield container


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn an :class:`AiTraderError` into one red line: exit 2 for bad input/config, else 1."""
    try:
        yield
    except (ConfigError, InputError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except AiTraderError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except EDGE_FAILURES as exc:
        err_console.print(f"[red]error:[/red] {describe_failure(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
