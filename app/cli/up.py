"""``ai-trader up``: run every platform process together and supervise them.

Each component is a child process (so one crash cannot take the others down silently);
``up`` prints their URLs, forwards Ctrl-C / SIGTERM and exits when any component dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

import typer

from app.cli.common import console, err_console, exit_on_error, settings_or_exit
from app.config import Settings
from app.errors import AiTraderError, ConfigError
from app.observability import COMPONENT_ENV

if TYPE_CHECKING:
    from app.storage.db import Database

__all__ = ["Component", "components", "up_command"]


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    argv: list[str]
    url: str | None = None
    port: int | None = None
    restart: bool = False
    """Restarted (after :data:`RESTART_DELAY_S`) when it exits with code 1, the code a worker
    uses for "gave up on a dependency, restart me"; any other exit stops the platform."""


def components(settings: Settings, host: str) -> list[Component]:
    """The processes ``up`` starts, in start order."""
    py = sys.executable
    api_url = f"http://{host}:{settings.api_port}"
    return [
        Component(
            "api", [py, "-m", "app.cli", "api", "--host", host, "--no-migrate"], api_url, settings.api_port
        ),
        Component("order-consumer", [py, "-m", "app.cli", "consumer", "orders"]),
        Component("sweep-consumer", [py, "-m", "app.cli", "consumer", "sweeps"]),
        # order updates from the venue (Alpaca's stream) and the time-in-force sweep
        Component("venue-updates", [py, "-m", "app.cli", "venue", "stream"], restart=True),
        Component(
            "ui",
            [py, "-m", "app.cli", "ui", "--host", host, "--port", str(settings.UI_PORT)],
            f"http://{host}:{settings.UI_PORT}/ui/",
            settings.UI_PORT,
        ),
        Component("scheduler", [py, "-m", "app.cli", "schedule", "serve"]),
    ]


DATABASE_RETRY_S = 2.0
"""How often ``up`` tries the database again while it is down at start."""

RESTART_DELAY_S = 5.0
"""How long ``up`` waits before restarting a component that asked to be restarted."""


def _migrate(database: Database, *, first: bool) -> bool:
    """Apply migrations; on failure say so (the first time) and return False."""
    try:
        database.upgrade()
    except AiTraderError as exc:
        if first:
            err_console.print(
                f"[yellow]database not ready:[/yellow] {exc}; retrying every {DATABASE_RETRY_S:g} s",
                highlight=False,
                soft_wrap=True,
            )
        return False
    return True


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def up_command(
    host: str = typer.Option("127.0.0.1", help="Bind address for the HTTP services."),
    only: list[str] = typer.Option([], help="Start only these components (repeatable)."),
) -> None:
    """Start the whole platform and supervise it until interrupted."""
    from app.api.server import check_bind
    from app.bootstrap import Container

    settings = settings_or_exit("up")
    with exit_on_error():
        check_bind(settings, host)
    container = Container(settings)  # closed on the way out
    database = container.db
    migrated = _migrate(database, first=True)
    selected = [c for c in components(settings, host) if not only or c.name in only]
    with exit_on_error():
        for component in selected:
            if component.port is not None and not _port_free(host, component.port):
                raise ConfigError(
                    f"port {component.port} for {component.name} is already in use on {host}: "
                    "stop what holds it, or choose another port (PORT / UI_PORT)"
                )
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(batch: list[Component]) -> None:
        for component in batch:
            # Each child names itself on every JSON log line (field ``component``).
            env = {**os.environ, COMPONENT_ENV: component.name}
            procs[component.name] = subprocess.Popen(component.argv, env=env)
            label = component.url or "running"
            console.print(
                f"[green]started[/green] {component.name:<16} {label}  (pid {procs[component.name].pid})"
            )

    # Without a database only the API starts (live, and not ready naming the database); the
    # components that need the database start once migrations succeed.
    waiting = [] if migrated else [c for c in selected if c.name != "api"]
    start([c for c in selected if c not in waiting])
    if waiting:
        console.print(
            f"[yellow]waiting for the database[/yellow] before starting {', '.join(c.name for c in waiting)}"
        )
    next_try = time.monotonic() + DATABASE_RETRY_S
    api = next((c for c in selected if c.name == "api"), None)
    if api is not None and api.url:
        console.print(f"API docs: {api.url}/docs   health: {api.url}/health/ready")

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    by_name = {c.name: c for c in selected}
    restarts: dict[str, float] = {}
    while not stopping:
        if waiting and time.monotonic() >= next_try:
            if _migrate(database, first=False):
                console.print("[green]database ready[/green]")
                start(waiting)
                waiting = []
            next_try = time.monotonic() + DATABASE_RETRY_S
        for name, proc in list(procs.items()):
            code = proc.poll()
            if code is None:
                continue
            if by_name[name].restart and code == 1:
                due = restarts.get(name)
                if due is None:
                    restarts[name] = time.monotonic() + RESTART_DELAY_S
                    console.print(
                        f"[yellow]{name} exited with code 1; restarting it in {RESTART_DELAY_S:g} s[/yellow]"
                    )
                elif time.monotonic() >= due:
                    del restarts[name]
                    start([by_name[name]])
                continue
            console.print(f"[red]{name} exited with code {code}; stopping the platform[/red]")
            exit_code = code or 1
            stopping = True
            break
        time.sleep(0.2)
    container.close()
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    raise typer.Exit(exit_code)
