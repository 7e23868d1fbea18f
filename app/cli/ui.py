"""``ai-trader ui``: serve the Streamlit dashboard under ``/ui/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from app.cli.common import settings_or_exit
from app.config import Settings
from app.errors import ConfigError
from app.observability import COMPONENT_ENV, resolve_component
from app.ui.auth import check_hash, is_loopback

__all__ = ["exposure_refusal", "streamlit_argv", "ui_command"]

DASHBOARD = Path(__file__).resolve().parents[1] / "ui" / "dashboard.py"


def streamlit_argv(settings: Settings, host: str, port: int | None = None) -> list[str]:
    """The command that serves the dashboard at ``http://host:port/ui/``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port or settings.UI_PORT),
        "--server.baseUrlPath", "ui",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def exposure_refusal(settings: Settings, host: str) -> str | None:
    """Why the dashboard must not start on ``host``, or ``None`` when it may.

    Beyond loopback the dashboard needs an operator login (``UI_OPERATOR_PASSWORD_HASH``);
    a malformed hash is refused everywhere."""
    stored = settings.UI_OPERATOR_PASSWORD_HASH
    if stored is not None:
        try:
            check_hash(stored.get_secret_value())
        except ConfigError as exc:
            return str(exc)
        return None
    if is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without an operator login: set UI_OPERATOR_PASSWORD_HASH "
        "(make one with python -m app.ui.auth) or bind to 127.0.0.1"
    )


def ui_command(
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int | None = typer.Option(None, help="Port (default WEBSITES_PORT, then UI_PORT, 8501)."),
) -> None:
    """Serve the dashboard (Router Orders, Backtest Sweeps with the frame viewer, Risk)."""
    settings = settings_or_exit("ui")
    refusal = exposure_refusal(settings, host)
    if refusal is not None:
        typer.echo(f"ui: {refusal}", err=True)
        raise typer.Exit(2)
    # On App Service the ui web app's WEBSITES_PORT names the port the platform forwards to.
    argv = streamlit_argv(settings, host, port or settings.WEBSITES_PORT)
    env = {**os.environ, "STREAMLIT_SERVER_HEADLESS": "true", COMPONENT_ENV: resolve_component("ui")}
    # Replace this process, so a supervisor's SIGTERM reaches Streamlit itself.
    os.execve(argv[0], argv, env)  # noqa: S606
