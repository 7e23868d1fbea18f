"""Migration 0007: trading.fills gains cum_qty and inferred; stored Alpaca fills get their cum_qty."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from app.storage.db import MIGRATIONS_DIR, Database
from app.storage.models import Fill, Order
from app.storage.types import Money, UTCDateTime

AT = datetime(2026, 11, 25, 15, 2, tzinfo=UTC)
ALPACA_ID = "c2a0f5a4-93d1-4f0e-8b57-6e1d2b9a7c31"


def test_upgrade_fills_in_the_cumulative_quantity_of_stored_alpaca_fills(database_url: str) -> None:
    database = Database(database_url)
    try:
        database.upgrade("0006_simulated_account")
        fills_0006 = sa.table(  # trading.fills as revision 0006 left it
            "fills",
            sa.column("order_id", sa.BigInteger()),
            sa.column("venue_fill_id", sa.String(128)),
            sa.column("symbol", sa.String(32)),
            sa.column("side", sa.String(8)),
            sa.column("qty", Money()),
            sa.column("price", Money()),
            sa.column("fee", Money()),
            sa.column("ts", UTCDateTime()),
            sa.column("created_at", UTCDateTime()),
            sa.column("raw", sa.JSON()),
            schema=_schema(database),
        )
        orders = cast(sa.Table, Order.__table__)
        with database.engine.begin() as connection:
            base = {"symbol": "MSFT", "side": "buy", "type": "market", "time_in_force": "day"}
            extra = {
                "status": "filled",
                "filled_qty": Decimal(0),
                "created_at": AT,
                "updated_at": AT,
                "raw": {},
            }
            for coid, broker_id in (("rt-1", ALPACA_ID), ("rt-2", "sim-7")):
                connection.execute(
                    sa.insert(orders).values(client_order_id=coid, broker_order_id=broker_id, **base, **extra)
                )
            found_ids = connection.execute(sa.select(orders.c.client_order_id, orders.c.id))
            ids = {row.client_order_id: row.id for row in found_ids}
            alpaca, simulated = ids["rt-1"], ids["rt-2"]
            row = {"symbol": "MSFT", "side": "buy", "price": Decimal(412), "fee": Decimal(0), "ts": AT}
            row |= {"created_at": AT, "raw": {}}
            connection.execute(
                sa.insert(fills_0006),
                [
                    row | {"order_id": alpaca, "venue_fill_id": f"{ALPACA_ID}:7", "qty": Decimal(7)},
                    row | {"order_id": alpaca, "venue_fill_id": f"{ALPACA_ID}:20", "qty": Decimal(13)},
                    # an activity row that had no cum_qty kept Alpaca's own row id
                    row | {"order_id": alpaca, "venue_fill_id": "20261125100212903::x", "qty": Decimal(1)},
                    # a name that is not a quantity, or a quantity below the fill's own
                    row | {"order_id": alpaca, "venue_fill_id": f"{ALPACA_ID}:abc", "qty": Decimal(1)},
                    row | {"order_id": alpaca, "venue_fill_id": f"{ALPACA_ID}:0.5", "qty": Decimal(1)},
                    row | {"order_id": simulated, "venue_fill_id": "sim-7-1", "qty": Decimal(3)},
                ],
            )
        database.upgrade()
        with database.engine.connect() as connection:
            found = {
                name: (cumulative, inferred)
                for name, cumulative, inferred in connection.execute(
                    sa.select(Fill.venue_fill_id, Fill.cum_qty, Fill.inferred)
                )
            }
        assert found == {
            f"{ALPACA_ID}:7": (Decimal(7), False),
            f"{ALPACA_ID}:20": (Decimal(20), False),
            "20261125100212903::x": (None, False),
            f"{ALPACA_ID}:abc": (None, False),
            f"{ALPACA_ID}:0.5": (None, False),
            "sim-7-1": (None, False),
        }
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with database.engine.begin() as connection:  # and back down
            config.attributes["connection"] = connection
            command.downgrade(config, "0006_simulated_account")
        columns = {
            c["name"] for c in sa.inspect(database.engine).get_columns("fills", schema=_schema(database))
        }
        assert "cum_qty" not in columns and "inferred" not in columns
        database.upgrade()
        assert database.current_revision() == "0007_fill_coverage"
    finally:
        database.dispose()


def _schema(database: Database) -> str | None:
    return "trading" if database.dialect == "postgresql" else None
