"""The scheduler lease: one row per schedule naming the scheduler that runs it, and until when.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

(Numbered 0003 so that a separately developed 0002 can take its place below it: when both
exist, ``down_revision`` here becomes ``"0002"``.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.storage.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_scheduler_lease"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_lease")
