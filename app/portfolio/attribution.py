"""Realised P&L split by session day and by strategy, from the fills (pure; no I/O).

The fills are replayed in time order through the book's own arithmetic
(:meth:`~app.portfolio.book.Position.apply`, average cost, fees subtracted), so the total equals
the realised P&L the book holds for those fills. A fill's realised P&L is booked on the day it
executed (the New York session date by default) and to the strategy of the order it belongs to:
the order that *closes* a position gets the P&L, whichever strategy opened it. Orders without
a strategy are booked to ``"(none)"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.domain.orders import OrderSide
from app.portfolio.book import BookFill, Position

__all__ = ["NO_STRATEGY", "AttributedFill", "PnlBucket", "RealisedBreakdown", "realised_breakdown"]

NO_STRATEGY = "(none)"
_ZERO = Decimal(0)
_NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributedFill:
    """One stored fill with the strategy of its order (``None`` when the order named none)."""

    seq: int  # the stored fill's id: ties in time are replayed in the order they were stored
    fill_id: str
    symbol: str
    side: str  # "buy" or "sell"
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts: datetime
    strategy: str | None


@dataclass(frozen=True, slots=True)
class PnlBucket:
    """Realised P&L (net of fees) of one day or strategy, the fees in it and its fill count."""

    key: str
    realised: Decimal
    fees: Decimal
    fills: int


@dataclass(frozen=True, slots=True)
class RealisedBreakdown:
    """Per day (oldest first) and per strategy (by name); ``total`` is the sum of either."""

    by_day: list[PnlBucket]
    by_strategy: list[PnlBucket]
    total: Decimal


def _add(buckets: dict[str, list[Decimal | int]], key: str, realised: Decimal, fee: Decimal) -> None:
    entry = buckets.setdefault(key, [_ZERO, _ZERO, 0])
    entry[0] = Decimal(entry[0]) + realised
    entry[1] = Decimal(entry[1]) + fee
    entry[2] = int(entry[2]) + 1


def _listed(buckets: dict[str, list[Decimal | int]]) -> list[PnlBucket]:
    return [PnlBucket(key, Decimal(v[0]), Decimal(v[1]), int(v[2])) for key, v in sorted(buckets.items())]


def realised_breakdown(
    fills: Iterable[AttributedFill], *, account: str = "simulated", tz: ZoneInfo = _NEW_YORK
) -> RealisedBreakdown:
    """Replay ``fills`` (any order; sorted here by time, then ``seq``) and split the realised P&L.

    Raises:
        InputError: a fill the book would refuse (non-positive quantity or price, naive time).
    """
    ordered = sorted(fills, key=lambda f: (f.ts, f.seq))
    positions: dict[str, Position] = {}
    days: dict[str, list[Decimal | int]] = {}
    strategies: dict[str, list[Decimal | int]] = {}
    total = _ZERO
    for fill in ordered:
        held = positions.get(fill.symbol) or Position(account=account, symbol=fill.symbol)
        outcome = held.apply(
            BookFill(
                account=account,
                symbol=fill.symbol,
                side=OrderSide(fill.side),
                quantity=fill.qty,
                price=fill.price,
                fee=fill.fee,
                ts=fill.ts,
                fill_id=fill.fill_id,
            )
        )
        positions[fill.symbol] = outcome.position
        day: date = fill.ts.astimezone(tz).date()
        _add(days, day.isoformat(), outcome.realised, fill.fee)
        _add(strategies, fill.strategy or NO_STRATEGY, outcome.realised, fill.fee)
        total += outcome.realised
    return RealisedBreakdown(_listed(days), _listed(strategies), total)
