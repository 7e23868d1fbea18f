"""``ai-trader ui``: serve the Streamlit dashboard under ``/ui/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from app.cli.common import settings_or_exit
from app.config import Settings
from app.observability import COMPONENT_ENV, resolve_component

__all__ = ["streamlit_argv", "ui_command"]

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


def ui_command(
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int | None = typer.Option(None, help="Port (default WEBSITES_PORT, then UI_PORT, 8501)."),
) -> None:
    """Serve the dashboard (Router Orders, Backtest Sweeps with the frame viewer, Risk)."""
    settings = settings_or_exit("ui")
    # On App Service the ui web app's WEBSITES_PORT names the port the platform forwards to.
    argv = streamlit_argv(settings, host, port or settings.WEBSITES_PORT)
    env = {**os.environ, "STREAMLIT_SERVER_HEADLESS": "true", COMPONENT_ENV: resolve_component("ui")}
    # Replace this process, so a supervisor's SIGTERM reaches Streamlit itself.
    os.execve(argv[0], argv, env)  # noqa: S606
