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

from sqlalchemy import Connection, Engine, Row, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import ConfigError, StorageError
from app.storage.models import TRADING_SCHEMA

__all__ = ["Database", "DatabaseError", "is_transient_db_error", "normalize_database_url", "sqlite_file_url"]

DatabaseError = SQLAlchemyError
"""The driver-neutral base of every database failure (for edges that report, not handle, them)."""

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

MIGRATION_LOCK_KEY = 0x61692D7472616465  # "ai-trade": the PostgreSQL advisory lock of migrations

_REFUSED_CLASSES = ("22", "23")
"""SQLSTATE classes that mean "this data is wrong" (data exception, integrity violation).

Every other failure (connection loss ``08``, read-only ``25006``, serialisation failure and
deadlock ``40``, resources ``53``, admin shutdown ``57``, I/O ``58``, a missing table ``42``
while migrations are pending ...) is about the database's state, not the data written, and
passes when the database recovers."""


def is_transient_db_error(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot write now; False when it refused the data.

    Callers retry a transient error (without moving any checkpoint) and may set aside the
    data of a refusal (dead letter). Unknown errors count as transient: retrying a bad event
    stalls a stream visibly, whereas dead-lettering a good one loses data silently.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return not sqlstate.startswith(_REFUSED_CLASSES)
        # SQLite (no SQLSTATE): a constraint or a value it cannot store is the data's fault;
        # "database is locked", "readonly database", "disk I/O error" are operational.
        name = type(orig).__name__
        return name not in ("IntegrityError", "DataError", "InterfaceError", "ProgrammingError")
    # A StatementError without a driver error is a value the driver could not bind: the data.
    return not isinstance(exc, StatementError)


def sqlite_file_url(path: str | Path) -> URL:
    """The URL of the embedded SQLite database at ``path``."""
    return URL.create("sqlite+pysqlite", database=str(path))


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
        """Apply Alembic migrations up to ``revision``; safe to run any number of times.

        Safe to run from several processes at once: the upgrade holds a PostgreSQL advisory
        lock (SQLite: an exclusive transaction) until it commits, so one process migrates and
        the others wait, then find the schema current and do nothing.
        """
        # alembic is imported here, not at module level: every entry point imports this module
        # (app.failures), and a backtest process should not pay for the migration machinery
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as connection:
                if self.dialect == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                else:
                    connection.exec_driver_sql("BEGIN EXCLUSIVE")
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

    @staticmethod
    def head_revision() -> str | None:
        """The newest migration this code ships."""
        from alembic.config import Config as AlembicConfig
        from alembic.script import ScriptDirectory

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        return ScriptDirectory.from_config(cfg).get_current_head()

    @staticmethod
    def _version_row(connection: Connection) -> Row[Any] | None:
        """The ``alembic_version`` row, or ``None`` on a database never migrated."""
        exists = (
            "SELECT to_regclass('alembic_version') IS NOT NULL"
            if connection.dialect.name == "postgresql"
            else "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        )
        if not connection.exec_driver_sql(exists).scalar():
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).first()

    def ping(self) -> None:
        """Run ``SELECT 1``; raise :class:`StorageError` naming the cause when it fails."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from exc

    def check_ready(self) -> None:
        """Return when the database answers, accepts writes and has the current schema.

        Raises :class:`StorageError` saying which of the three fails: ``SELECT 1`` alone
        succeeds on a read-only (standby, ``default_transaction_read_only``) or unmigrated
        database on which every write of the platform fails.
        """
        try:
            with self.engine.connect() as connection:
                if self.dialect == "postgresql":
                    read_only = connection.execute(text("SHOW transaction_read_only")).scalar()
                    if str(read_only).lower() == "on":
                        raise StorageError("the database is read-only (transaction_read_only = on)")
                    row = self._version_row(connection)
                else:
                    # A write probe that is rolled back: fails on a read-only file or mount.
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    try:
                        row = self._version_row(connection)
                        if row is not None:
                            connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
                    finally:
                        connection.exec_driver_sql("ROLLBACK")
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from exc
        current = None if row is None else str(row[0])
        head = self.head_revision()
        if current != head:
            raise StorageError(
                f"the database schema is at {current or 'no revision'}, this release needs {head}: "
                "run `ai-trader db upgrade`"
            )

    def dispose(self) -> None:
        self.engine.dispose()


def _storage_error(exc: SQLAlchemyError) -> StorageError:
    cause = getattr(exc, "orig", None) or exc
    return StorageError(f"{exc.__class__.__name__}: {str(cause).strip()}")
