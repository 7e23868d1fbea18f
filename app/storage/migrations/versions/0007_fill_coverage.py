"""trading.fills.cum_qty and .inferred: which of an order's shares each fill covers.

Revision ID: 0007_fill_coverage
Revises: 0006_simulated_account
Create Date: 2026-12-05

``cum_qty`` is the order's filled quantity right after the execution (null when the venue
does not say, as with the simulated brokers); ``inferred`` marks fills derived from the
order's totals rather than reported executions. Existing Alpaca fills are named
``<broker order id>:<cumulative qty>``, so their ``cum_qty`` is filled in from the name.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

from app.storage.types import Money

revision = "0007_fill_coverage"
down_revision = "0006_simulated_account"
branch_labels = None
depends_on = None

_PAGE = 5_000


def _schema() -> str | None:
    return "trading" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    op.add_column("fills", sa.Column("cum_qty", Money(), nullable=True), schema=schema)
    op.add_column(
        "fills", sa.Column("inferred", sa.Boolean(), nullable=False, server_default=sa.false()), schema=schema
    )
    _backfill(schema)


def _backfill(schema: str | None) -> None:
    """``cum_qty`` of the stored fills whose name is their order's broker id and a quantity."""
    fills = sa.table(
        "fills",
        sa.column("id", sa.BigInteger()),
        sa.column("order_id", sa.BigInteger()),
        sa.column("venue_fill_id", sa.String(128)),
        sa.column("qty", Money()),
        sa.column("cum_qty", Money()),
        schema=schema,
    )
    orders = sa.table("orders", sa.column("id", sa.BigInteger()), sa.column("broker_order_id"), schema=schema)
    bind = op.get_bind()
    statement = (
        sa.update(fills).where(fills.c.id == sa.bindparam("b_id")).values(cum_qty=sa.bindparam("b_cum"))
    )
    after = 0
    while True:  # in pages of stored fills by id: memory stays bounded whatever the table holds
        page = bind.execute(
            sa.select(fills.c.id, fills.c.venue_fill_id, fills.c.qty, orders.c.broker_order_id)
            .join(orders, orders.c.id == fills.c.order_id)
            .where(orders.c.broker_order_id.is_not(None), fills.c.id > after)
            .order_by(fills.c.id)
            .limit(_PAGE)
        ).all()
        if not page:
            return
        after = page[-1][0]
        updates = [
            {"b_id": row_id, "b_cum": cumulative}
            for row_id, venue_fill_id, qty, broker_order_id in page
            if (cumulative := _cumulative(venue_fill_id, str(broker_order_id), qty)) is not None
        ]
        if updates:
            bind.execute(statement, updates)


def _cumulative(venue_fill_id: str, broker_order_id: str, qty: object) -> Decimal | None:
    """The cumulative quantity an Alpaca fill name ``<broker order id>:<qty>`` carries, if any."""
    prefix = f"{broker_order_id}:"
    if not venue_fill_id.startswith(prefix):
        return None
    try:
        cumulative = Decimal(venue_fill_id[len(prefix) :])
    except InvalidOperation:
        return None
    if cumulative.is_finite() and cumulative >= Decimal(str(qty)) > 0:
        return cumulative
    return None


def downgrade() -> None:
    schema = _schema()
    with op.batch_alter_table("fills", schema=schema) as batch:
        batch.drop_column("inferred")
        batch.drop_column("cum_qty")
