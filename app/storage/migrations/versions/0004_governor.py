"""The risk governor: the kill switch's state (ACTIVE/REDUCING/HALTED), its latch and high-water
mark, and the order reservations that make a guard check and the order's admission one step.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

``kill_switch.active`` stays (older readers, the runbook's status) and is kept equal to
``state = 'HALTED'``; a switch that was on becomes HALTED.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.storage.types import Money, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kill_switch") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="ACTIVE"))
        batch.add_column(sa.Column("latched_reason", sa.String(64), nullable=True))
        batch.add_column(sa.Column("high_water_mark", Money(), nullable=True))
    op.execute("UPDATE kill_switch SET state = 'HALTED' WHERE active")
    op.create_table(
        "order_reservations",
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("notional", Money(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_order_id", name="pk_order_reservations"),
    )
    op.create_index("ix_order_reservations_expires_at", "order_reservations", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_order_reservations_expires_at", table_name="order_reservations")
    op.drop_table("order_reservations")
    with op.batch_alter_table("kill_switch") as batch:
        batch.drop_column("high_water_mark")
        batch.drop_column("latched_reason")
        batch.drop_column("state")
