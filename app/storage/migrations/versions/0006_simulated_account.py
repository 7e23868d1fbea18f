"""The simulated broker's paper account: sim_accounts, sim_positions, sim_orders, sim_prices.

Revision ID: 0006_simulated_account
Revises: 0005
Create Date: 2026-12-05

The paper account is the simulated venue's own state (what the "broker" holds), kept apart
from the book (``trading.positions``) so reconciliation compares two independent records.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.storage.types import Money, UTCDateTime

revision = "0006_simulated_account"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sim_accounts",
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("cash", Money(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_sim_accounts"),
    )
    op.create_table(
        "sim_positions",
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("qty", Money(), nullable=False),
        sa.Column("cost_basis", Money(), nullable=False),
        sa.Column("realised_pnl", Money(), nullable=False),
        sa.Column("fees", Money(), nullable=False),
        sa.Column("last_fill_ts", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "symbol", name="pk_sim_positions"),
    )
    op.create_table(
        "sim_orders",
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "client_order_id", name="pk_sim_orders"),
    )
    op.create_index("ix_sim_orders_account_created_at", "sim_orders", ["account", "created_at"])
    op.create_table(
        "sim_prices",
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "symbol", name="pk_sim_prices"),
    )


def downgrade() -> None:
    op.drop_table("sim_prices")
    op.drop_index("ix_sim_orders_account_created_at", table_name="sim_orders")
    op.drop_table("sim_orders")
    op.drop_table("sim_positions")
    op.drop_table("sim_accounts")
