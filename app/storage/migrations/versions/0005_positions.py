"""The position book: trading.positions, trading.position_adjustments, trading.portfolio_snapshots.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.storage.types import Money, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _schema() -> str | None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SCHEMA IF NOT EXISTS trading")
        return "trading"
    return None


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "positions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("qty", Money(), nullable=False),
        sa.Column("avg_cost", Money(), nullable=False),
        sa.Column("cost_basis", Money(), nullable=False),
        sa.Column("realised_pnl", Money(), nullable=False),
        sa.Column("fees", Money(), nullable=False),
        sa.Column("last_fill_ts", UTCDateTime(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_positions"),
        sa.UniqueConstraint("account", "symbol", name="uq_positions_account_symbol"),
        schema=schema,
    )
    op.create_table(
        "position_adjustments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("qty_before", Money(), nullable=False),
        sa.Column("qty_after", Money(), nullable=False),
        sa.Column("avg_cost_before", Money(), nullable=False),
        sa.Column("avg_cost_after", Money(), nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_position_adjustments"),
        schema=schema,
    )
    op.create_index(
        "ix_position_adjustments_account_ts", "position_adjustments", ["account", "ts"], schema=schema
    )
    money_columns = (
        "equity",
        "cash",
        "long_exposure",
        "short_exposure",
        "gross_exposure",
        "net_exposure",
        "realised_pnl",
        "unrealised_pnl",
        "high_water_mark",
        "drawdown",
        "drawdown_amount",
    )
    op.create_table(
        "portfolio_snapshots",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        *(sa.Column(name, Money(), nullable=False) for name in money_columns),
        sa.Column("open_positions", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_portfolio_snapshots"),
        schema=schema,
    )
    op.create_index(
        "ix_portfolio_snapshots_account_ts", "portfolio_snapshots", ["account", "ts"], schema=schema
    )


def downgrade() -> None:
    schema = "trading" if op.get_bind().dialect.name == "postgresql" else None
    op.drop_index("ix_portfolio_snapshots_account_ts", table_name="portfolio_snapshots", schema=schema)
    op.drop_table("portfolio_snapshots", schema=schema)
    op.drop_index("ix_position_adjustments_account_ts", table_name="position_adjustments", schema=schema)
    op.drop_table("position_adjustments", schema=schema)
    op.drop_table("positions", schema=schema)
