"""Database engine, sessions, migrations and a readiness ping.

``DATABASE_URL`` accepts the plain ``postgresql://user:pass@host/db?sslmode=require`` form
that Azure hands out, SQLAlchemy's ``postgresql+psycopg://`` form, and ``sqlite:///path``.
Unset, the embedded default is a SQLite file under ``DATA_DIR``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import ConfigError, StorageError
from app.storage.models import TRADING_SCHEMA

__all__ = ["Database", "normalize_database_url"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalize_database_url(raw: str) -> URL:
    """Map the URL forms operators paste to the driver ai-trader uses (psycopg 3)."""
    try:
        url = make_url(raw)
    except Exception as exc:
        raise ConfigError(f"DATABASE_URL: cannot parse ({exc})") from None
    if url.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername.startswith("sqlite"):
        return url
    raise ConfigError(
        f"DATABASE_URL: unsupported driver {url.drivername!r} (use postgresql:// or sqlite:///)"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """Owns one SQLAlchemy engine and hands out sessions."""

    def __init__(self, url: str | URL, *, connect_timeout_s: float = 5.0, echo: bool = False) -> None:
        self.url = normalize_database_url(url) if isinstance(url, str) else url
        self.dialect = "sqlite" if self.url.drivername.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
            kwargs["execution_options"] = {"schema_translate_map": {TRADING_SCHEMA: None}}
        else:
            query = dict(self.url.query)
            connect_args: dict[str, Any] = {}
            if "connect_timeout" not in query:
                connect_args["connect_timeout"] = max(1, int(connect_timeout_s))
            kwargs["connect_args"] = connect_args
            kwargs["pool_size"] = 5
            kwargs["max_overflow"] = 5
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session inside one transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision``; safe to run any number of times."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StorageError(f"database migration failed: {exc.__class__.__name__}: {exc}") from exc

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            try:
                row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
            except SQLAlchemyError:
                return None
        return None if row is None else str(row[0])

    def ping(self) -> None:
        """Run ``SELECT 1``; raise :class:`StorageError` naming the cause when it fails."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StorageError(f"{exc.__class__.__name__}: {str(cause).strip()}") from exc

    def dispose(self) -> None:
        self.engine.dispose()
