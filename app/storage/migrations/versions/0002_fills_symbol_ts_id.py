"""Index trading.fills on (symbol, ts, id): the guard counts one symbol's fills before a day.

With ``id`` in the index the count and newest id of a symbol's earlier fills are answered
from the index alone (an index-only scan on PostgreSQL).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _schema() -> str | None:
    return "trading" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    op.create_index("ix_fills_symbol_ts_id", "fills", ["symbol", "ts", "id"], schema=_schema())


def downgrade() -> None:
    op.drop_index("ix_fills_symbol_ts_id", table_name="fills", schema=_schema())
