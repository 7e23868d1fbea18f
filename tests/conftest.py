"""Shared fixtures: isolated settings, real servers (session-scoped), databases per test."""

from __future__ import annotations

import concurrent.futures.thread
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.config import Settings
from app.storage.db import Database
from tests import servers

_MARKER_BY_DIR = {"unit": "unit", "integration": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder (tests/unit -> unit, ...)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for folder, marker in _MARKER_BY_DIR.items():
            if folder in parts:
                item.add_marker(getattr(pytest.mark, marker))


def _lingering(threads: list[threading.Thread], wait_s: float) -> list[threading.Thread]:
    """The threads of ``threads`` still alive after waiting up to ``wait_s`` seconds in all."""
    deadline = time.monotonic() + wait_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def _foreground_threads() -> list[threading.Thread]:
    """Live non-daemon threads other than this one, idle executor workers aside (the
    interpreter stops those itself at exit)."""
    return [
        t
        for t in threading.enumerate()
        if t is not threading.current_thread()
        and not t.daemon
        and getattr(t, "_target", None) is not concurrent.futures.thread._worker
    ]


@pytest.fixture(autouse=True)
def _no_thread_outlives_its_test() -> Iterator[None]:
    """A non-daemon thread a test started and left running fails that test.

    Such a thread keeps the interpreter from exiting: the run would hang at its end (a
    consumer retrying a dropped test database forever) instead of reporting.
    """
    before = set(threading.enumerate())
    yield
    left = _lingering([t for t in _foreground_threads() if t not in before], 10.0)
    if left:
        pytest.fail(f"the test left threads running: {', '.join(t.name for t in left)}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Never let a stuck thread hang the run after its results are in: report it and exit."""
    left = _lingering(_foreground_threads(), 30.0)
    if not left:
        return
    frames = sys._current_frames()
    for thread in left:
        stack = "".join(traceback.format_stack(frames[thread.ident])) if thread.ident in frames else ""
        sys.stderr.write(f"\nthread {thread.name!r} is still running after the tests:\n{stack}")
    sys.stderr.write("exiting with status 1: a test left a thread running\n")
    sys.stderr.flush()
    os._exit(1)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's environment and dotenv files out of every test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ARTIFACTS_DIR", str(tmp_path / "artifacts"))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings from explicit values only (no dotenv), rooted in ``tmp_path``."""

    def build(**values: Any) -> Settings:
        values.setdefault("DATA_DIR", tmp_path / "var")
        values.setdefault("ARTIFACTS_DIR", tmp_path / "artifacts")
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


# --- real servers -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[servers.Server]:
    with servers.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.Server]:
    with servers.redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def azurite() -> Iterator[servers.Server]:
    with servers.azurite_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: servers.Server) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (plain Azure-style URL)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:{postgres.port}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url(redis_server: servers.Server) -> str:
    """A Redis URL on a database flushed for this test."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.flushall()
    client.close()
    return f"redis://127.0.0.1:{redis_server.port}/0"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database on each backend."""
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()
