"""Index trading.fills on (symbol, ts): the guard reads one symbol's fills before a day.

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
    op.create_index("ix_fills_symbol_ts", "fills", ["symbol", "ts"], schema=_schema())


def downgrade() -> None:
    op.drop_index("ix_fills_symbol_ts", table_name="fills", schema=_schema())
