"""Initial schema: trading.orders, trading.fills, sweep_registry, kill switch, backtest runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.storage.types import Money, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _trading_schema() -> str | None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SCHEMA IF NOT EXISTS trading")
        return "trading"
    return None


def upgrade() -> None:
    schema = _trading_schema()
    op.create_table(
        "orders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("broker_order_id", sa.String(128)),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("qty", Money()),
        sa.Column("notional", Money()),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("limit_price", Money()),
        sa.Column("stop_price", Money()),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("filled_qty", Money(), nullable=False),
        sa.Column("avg_fill_price", Money()),
        sa.Column("strategy", sa.String(64)),
        sa.Column("source_event_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("client_order_id", name="uq_orders_client_order_id"),
        schema=schema,
    )
    op.create_index("ix_orders_symbol_created_at", "orders", ["symbol", "created_at"], schema=schema)
    op.create_index("ix_orders_status", "orders", ["status"], schema=schema)
    op.create_table(
        "fills",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("venue_fill_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("qty", Money(), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("fee", Money(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fills"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            [f"{schema}.orders.id" if schema else "orders.id"],
            name="fk_fills_order_id_orders",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("order_id", "venue_fill_id", name="uq_fills_order_id_venue_fill_id"),
        schema=schema,
    )
    op.create_index("ix_fills_ts", "fills", ["ts"], schema=schema)
    op.create_table(
        "sweep_registry",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config_path", sa.String(512)),
        sa.Column("config_blob", sa.String(512)),
        sa.Column("strategy", sa.String(64)),
        sa.Column("symbol", sa.String(32)),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("output_dir", sa.String(512)),
        sa.Column("execution_name", sa.String(256)),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("dispatched_at", UTCDateTime()),
        sa.Column("started_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("job_id", name="pk_sweep_registry"),
    )
    op.create_index("ix_sweep_registry_status", "sweep_registry", ["status"])
    op.create_table(
        "kill_switch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("actor", sa.String(128)),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kill_switch"),
    )
    op.create_table(
        "kill_switch_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("detail", sa.Text()),
        sa.Column("symbol", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_kill_switch_events"),
    )
    op.create_index("ix_kill_switch_events_ts", "kill_switch_events", ["ts"])
    op.create_table(
        "backtest_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("frame_path", sa.String(512)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_backtest_runs"),
    )
    op.create_index("ix_backtest_runs_created_at", "backtest_runs", ["created_at"])


def downgrade() -> None:
    schema = "trading" if op.get_bind().dialect.name == "postgresql" else None
    for table in ("backtest_runs", "kill_switch_events", "kill_switch", "sweep_registry"):
        op.drop_table(table)
    op.drop_table("fills", schema=schema)
    op.drop_table("orders", schema=schema)
