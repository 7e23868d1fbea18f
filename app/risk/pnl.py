"""Realised profit and loss of fills under the average-cost method (pure; no I/O).

A fill that reduces a position realises ``closed qty x (price - average cost)`` (the opposite
sign for a short); a fill that flips the position closes the old side first and opens the
rest at its own price. Fees are subtracted from the P&L of the fill that paid them.

The state of a symbol before a trading day (its :class:`OpenPosition`) depends on every
earlier fill, but is fixed once the day has begun; :func:`open_positions` computes it once so
that each later check replays only the day's own fills (:func:`realised_pnl_by_symbol` with
``opening``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = [
    "FillRow",
    "OpenPosition",
    "open_positions",
    "realised_pnl",
    "realised_pnl_by_symbol",
    "replay",
]

FillRow = tuple[str, str, Decimal, Decimal, Decimal, datetime]
"""``(symbol, side, qty, price, fee, ts)`` of one fill; ``side`` is ``buy`` or ``sell``."""

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A symbol's signed quantity (negative: short) and the average cost of that quantity."""

    qty: Decimal
    avg_cost: Decimal


def _step(
    position: OpenPosition | None, side: str, qty: Decimal, price: Decimal
) -> tuple[Decimal, OpenPosition | None]:
    held = _ZERO if position is None else position.qty
    cost = _ZERO if position is None else position.avg_cost
    signed = qty if side == "buy" else -qty
    realised = _ZERO
    if held != 0 and (held > 0) != (signed > 0):
        closed = min(abs(held), abs(signed))
        realised = closed * (price - cost) if held > 0 else closed * (cost - price)
    new_held = held + signed
    if new_held == 0:
        return realised, None
    if held == 0 or (held > 0) != (new_held > 0):
        return realised, OpenPosition(new_held, price)
    if (held > 0) == (signed > 0):
        return realised, OpenPosition(new_held, (abs(held) * cost + abs(signed) * price) / abs(new_held))
    return realised, OpenPosition(new_held, cost)


def open_positions(
    fills: Iterable[FillRow], opening: Mapping[str, OpenPosition] | None = None
) -> dict[str, OpenPosition]:
    """Return the position each symbol holds after ``fills`` (in time order); flat symbols are left out.

    ``opening`` is what was held before the first of ``fills``.
    """
    positions = dict(opening or {})
    for _ in replay(fills, positions):
        pass
    return positions


def realised_pnl_by_symbol(
    fills: Iterable[FillRow], since: datetime, opening: Mapping[str, OpenPosition] | None = None
) -> dict[str, Decimal]:
    """Realised P&L net of fees per symbol, of the fills at or after ``since``.

    ``fills`` are in time order. Either they include the earlier fills that built each position,
    or ``opening`` gives the positions held before the first of them. Every symbol with a fill
    at or after ``since`` has an entry, zero included.
    """
    totals: dict[str, Decimal] = {}
    for symbol, ts, net in replay(fills, dict(opening or {})):
        if ts >= since:
            totals[symbol] = totals.get(symbol, _ZERO) + net
    return totals


def realised_pnl(
    fills: Iterable[FillRow], since: datetime, opening: Mapping[str, OpenPosition] | None = None
) -> Decimal:
    """Realised profit (negative: loss) of fills at or after ``since``, net of their fees.

    ``fills`` are ``(symbol, side, qty, price, fee, ts)`` in time order and must include the
    earlier fills that built each position (or ``opening`` must give those positions), so the
    average cost is known. Long and short positions both realise P&L when reduced.
    """
    total = _ZERO
    for _symbol, ts, net in replay(fills, dict(opening or {})):
        if ts >= since:
            total += net
    return total


def replay(
    fills: Iterable[FillRow], positions: dict[str, OpenPosition]
) -> Iterator[tuple[str, datetime, Decimal]]:
    """Apply ``fills`` (in time order) to ``positions`` in place; yield each fill's symbol, time
    and realised P&L net of its fee. A book kept between calls resumes where it stopped."""
    for symbol, side, qty, price, fee, ts in fills:
        realised, after = _step(positions.get(symbol), side, qty, price)
        if after is None:
            positions.pop(symbol, None)
        else:
            positions[symbol] = after
        yield symbol, ts, realised - fee
