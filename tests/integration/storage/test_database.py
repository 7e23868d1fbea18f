from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import BLANK_SCHEMA

from app.errors import ConfigError, StorageError
from app.storage.db import Database, normalize_database_url
from app.storage.models import Base, Fill, Order, SweepJob
from tests.servers import postgres_server


def test_upgrade_creates_the_runbook_tables_and_is_idempotent(database: Database) -> None:
    database.upgrade()
    database.upgrade()
    assert database.current_revision() is not None
    inspector = inspect(database.engine)
    trading = "trading" if database.dialect == "postgresql" else None
    assert {"orders", "fills"} <= set(inspector.get_table_names(schema=trading))
    assert {"sweep_registry", "kill_switch", "kill_switch_events", "backtest_runs"} <= set(
        inspector.get_table_names()
    )


def test_models_match_migrations(database: Database) -> None:
    metadata = Base.metadata
    if database.dialect == "sqlite":  # SQLite has no schemas: compare with `trading` mapped away
        metadata = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(metadata, schema=None, referred_schema_fn=lambda *_: BLANK_SCHEMA)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_schemas": database.dialect == "postgresql"}
        )
        diff = [
            d
            for d in compare_metadata(context, metadata)
            if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")
        ]
    assert diff == []


def test_order_and_fills_round_trip_exact_decimals_and_utc(database: Database) -> None:
    eastern = timezone(timedelta(hours=-5))
    with database.transaction() as session:
        order = Order(
            client_order_id="AAPL-momentum-20250102",
            symbol="AAPL",
            side="buy",
            qty=Decimal("12.3456789012"),
            notional=Decimal("2000.10"),
            type="limit",
            limit_price=Decimal("162.0100000001"),
            status="accepted",
            strategy="momentum",
            source_event_id="evt-1",
            raw={"prob": 0.61},
        )
        session.add(order)
        session.flush()
        session.add(
            Fill(
                order_id=order.id,
                venue_fill_id="f-1",
                symbol="AAPL",
                side="buy",
                qty=Decimal("2.5"),
                price=Decimal("161.99"),
                fee=Decimal("0.0125"),
                ts=datetime(2025, 1, 2, 9, 31, tzinfo=eastern),
            )
        )
    with database.session() as session:
        stored = session.scalars(select(Order)).one()
        assert stored.qty == Decimal("12.3456789012")
        assert stored.limit_price == Decimal("162.0100000001")
        assert stored.created_at.tzinfo is not None
        assert stored.raw == {"prob": 0.61}
        fill = stored.fills[0]
        assert fill.ts == datetime(2025, 1, 2, 14, 31, tzinfo=UTC)
        assert fill.ts.utcoffset() == timedelta(0)
        assert fill.fee == Decimal("0.0125")


def test_client_order_id_and_venue_fill_id_are_unique(database: Database) -> None:
    with database.transaction() as session:
        order = Order(client_order_id="dup", symbol="MSFT", side="sell", qty=Decimal(1), status="new")
        session.add(order)
        session.flush()
        order_id = order.id
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.add(Order(client_order_id="dup", symbol="MSFT", side="sell", qty=Decimal(1), status="new"))
    fill = {"symbol": "MSFT", "side": "sell", "qty": Decimal(1), "price": Decimal(10)}
    with database.transaction() as session:
        session.add(Fill(order_id=order_id, venue_fill_id="v1", ts=datetime.now(UTC), **fill))
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.add(Fill(order_id=order_id, venue_fill_id="v1", ts=datetime.now(UTC), **fill))


def test_naive_timestamps_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), database.transaction() as session:
        session.add(SweepJob(job_id="j1", created_at=datetime(2025, 1, 1)))


def test_sweep_registry_round_trip(database: Database) -> None:
    with database.transaction() as session:
        session.add(
            SweepJob(job_id="job-1", config_path="configs/backtest/momentum_sweep.yaml", config={"a": 1})
        )
    with database.session() as session:
        job = session.get(SweepJob, "job-1")
        assert job is not None
        assert job.status == "queued"
        assert job.config == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u:p@h:5432/db?sslmode=require", "postgresql+psycopg"),
        ("postgres://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg"),
        ("sqlite:///var/x.db", "sqlite"),
    ],
)
def test_database_url_forms_map_to_psycopg3(raw: str, driver: str) -> None:
    url = normalize_database_url(raw)
    assert url.drivername == driver
    if "sslmode" in raw:
        assert url.query["sslmode"] == "require"


def test_unsupported_driver_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        normalize_database_url("mysql://u@h/db")


def test_both_postgres_url_forms_connect(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgresql+psycopg://")):
        db = Database(url)
        db.ping()
        db.dispose()


def test_sslmode_require_is_honoured(postgres_url: str) -> None:
    # The test server has no TLS: a client that honours sslmode=require must refuse to connect.
    db = Database(postgres_url + "?sslmode=require")
    with pytest.raises(StorageError, match=r"(?i)ssl"):
        db.ping()
    db.dispose()


def test_ping_names_the_cause_when_postgres_is_down() -> None:
    with postgres_server() as server:
        port = server.port
    db = Database(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout_s=2)
    with pytest.raises(StorageError, match="OperationalError"):
        db.ping()
    db.dispose()
