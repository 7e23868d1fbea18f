"""A small trading book for the console's tests: fills stored as the order consumer stores them
(``OrdersRepository.apply``, which also keeps ``trading.positions``) and snapshots marked with
the book's own arithmetic, with the figures the pages must show worked out by hand.

Fills (fixed past dates, so nothing depends on today):

==========  ===========  ======  ====  =======  =====  ==========
day (NY)    order        symbol  side  qty      price  fee
==========  ===========  ======  ====  =======  =====  ==========
2026-11-30  bk-1         QQA     buy   10       100    0
2026-11-30  mo-1         QQB     buy   5        200    0
2026-12-01  mo-2         QQA     sell  4        110    1
==========  ===========  ======  ====  =======  =====  ==========

Book after: QQA 6 @ 100, QQB 5 @ 200. Realised: 4 x (110 - 100) - 1 = 39 on 2026-12-01, all of
it by ``momentum`` (the order that closed); the two buys realise 0. The governor marks each
symbol at its newest fill price: QQA 110, QQB 200, so unrealised is 6 x 10 = 60.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus
from app.portfolio import PortfolioSnapshot, mark_to_market
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.storage.repositories.portfolio import PortfolioRepository

__all__ = ["FILLS", "REALISED", "SNAPSHOT_PRICES", "UNREALISED_AT_FILL_MARKS", "seed_fills", "seed_snapshots"]

FILLS = [
    # client_order_id, strategy, symbol, side, qty, price, fee, ts
    ("bk-1", "breakout", "QQA", "buy", "10", "100", "0", datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),
    ("mo-1", "momentum", "QQB", "buy", "5", "200", "0", datetime(2026, 11, 30, 15, 5, tzinfo=UTC)),
    ("mo-2", "momentum", "QQA", "sell", "4", "110", "1", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
]
REALISED = Decimal(39)
UNREALISED_AT_FILL_MARKS = Decimal(60)
SNAPSHOT_PRICES = [
    # (when, QQA close, QQB close): equity rises, falls below its high, recovers part
    (datetime(2026, 12, 1, 23, 0, tzinfo=UTC), Decimal("110"), Decimal("200")),
    (datetime(2026, 12, 2, 23, 0, tzinfo=UTC), Decimal("90"), Decimal("180")),
    (datetime(2026, 12, 3, 23, 0, tzinfo=UTC), Decimal("100"), Decimal("190")),
]


def seed_fills(db: Database) -> None:
    """Store the three filled orders through the order consumer's repository."""
    repository = OrdersRepository(db)
    for client_order_id, strategy, symbol, side, qty, price, fee, ts in FILLS:
        event = OrderEvent(
            client_order_id=client_order_id,
            symbol=symbol,
            side=OrderSide(side),
            qty=Decimal(qty),
            notional=Decimal(qty) * Decimal(price),
            status=OrderStatus.FILLED,
            strategy=strategy,
            ts=ts,
            fills=[
                FillPayload(
                    venue_fill_id=f"{client_order_id}-f1",
                    qty=Decimal(qty),
                    price=Decimal(price),
                    fee=Decimal(fee),
                    ts=ts,
                )
            ],
        )
        repository.apply([SourcedOrderEvent(event=event, event_id=f"evt-{client_order_id}")])


def seed_snapshots(db: Database, cash: Decimal, account: str = "simulated") -> list[PortfolioSnapshot]:
    """Mark the stored book at :data:`SNAPSHOT_PRICES` and store each snapshot (oldest first).

    Any other symbol the book holds (a platform's own trades) is marked at its average cost.
    """
    repository = PortfolioRepository(db)
    positions = repository.positions(account, include_flat=True)
    at_cost = {p.symbol: p.average_cost for p in positions if not p.is_flat}
    stored: list[PortfolioSnapshot] = []
    for at, qqa, qqb in SNAPSHOT_PRICES:
        snapshot = mark_to_market(
            positions,
            account=account,
            cash=cash,
            prices={**at_cost, "QQA": qqa, "QQB": qqb},
            at=at,
            previous=stored[-1] if stored else None,
        )
        repository.save_snapshot(snapshot)
        stored.append(snapshot)
    return stored
