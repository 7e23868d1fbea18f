"""Migrations from several processes at once, readiness on an unmigrated or read-only
database, and how database errors are classified."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.errors import StorageError
from app.storage.db import Database, is_transient_db_error
from tests.servers import REPO

_MIGRATE = """
import sys, time
from app.storage.db import Database
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
Database(sys.argv[1]).upgrade()
"""


def test_three_processes_migrating_a_fresh_database_at_once_all_succeed(database_url: str) -> None:
    start = time.time() + 3.0  # every process has imported everything by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, database_url, str(start)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    results = [(proc.wait(timeout=60), proc.stderr.read().decode() if proc.stderr else "") for proc in procs]
    assert [code for code, _ in results] == [0, 0, 0], results
    db = Database(database_url)
    try:
        assert db.current_revision() == db.head_revision()
        db.check_ready()
    finally:
        db.dispose()


def test_ready_is_503_on_an_unmigrated_database_and_200_after_upgrade(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    services = Container(make_settings(DATABASE_URL=database_url))
    with TestClient(create_app(container=services)) as client:
        before = client.get("/health/ready")
        services.db.upgrade()
        after = client.get("/health/ready")
    assert before.status_code == 503
    assert before.json()["failing"] == ["database"]
    assert "schema" in before.json()["checks"]["database"]["reason"]
    assert after.status_code == 200, after.text


def test_readiness_fails_on_a_read_only_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    writer = Database(f"sqlite:///{path}")
    writer.upgrade()
    writer.check_ready()
    writer.dispose()
    reader = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        reader.ping()  # SELECT 1 still works ...
        with pytest.raises(StorageError, match="readonly"):
            reader.check_ready()  # ... but nothing could be written
    finally:
        reader.dispose()


def _error(db: Database, sql: str) -> SQLAlchemyError:
    try:
        with db.engine.begin() as conn:
            conn.execute(text(sql))
    except SQLAlchemyError as exc:
        return exc
    raise AssertionError(f"{sql!r} did not fail")


def test_postgres_errors_are_classified_by_meaning(postgres_url: str) -> None:
    db = Database(postgres_url)
    db.upgrade()
    try:
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id int primary key, n numeric(3,0))"))
            conn.execute(text("INSERT INTO t VALUES (1, 1)"))
        # the data's fault: dead-letter material
        assert not is_transient_db_error(_error(db, "INSERT INTO t VALUES (1, 2)"))  # 23505
        assert not is_transient_db_error(_error(db, "INSERT INTO t VALUES (2, 12345)"))  # 22003
        # the database's state: retry
        read_only = _error(db, "SET TRANSACTION READ ONLY; INSERT INTO t VALUES (3, 3)")  # 25006
        assert is_transient_db_error(read_only)
        assert is_transient_db_error(_error(db, "SELECT pg_terminate_backend(pg_backend_pid())"))  # 57P01
        assert is_transient_db_error(_error(db, "SELECT * FROM not_migrated_yet"))  # 42P01
    finally:
        db.dispose()
