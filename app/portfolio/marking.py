"""Marking the book to market: a portfolio snapshot, its high-water mark, drawdown and daily P&L.

``equity = cash + sum(quantity x price)``; exposures use the same market values (gross is the
sum of their absolute values, net their sum). Realised P&L sums every position of the
account, flat ones included; unrealised is ``market value - cost basis`` of open ones. With
cash kept by the book from the same fills, ``equity - starting cash == realised + unrealised``.
A missing or unusable price for an open position is an error: a snapshot never guesses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.errors import InputError
from app.portfolio.book import Position, money

__all__ = ["DailyPnl", "PortfolioSnapshot", "daily_pnl", "mark_to_market"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioSnapshot:
    """An account marked to market at ``at``.

    ``drawdown`` is the fraction of the high-water mark lost (0 at a new high, 0.1 = 10 %
    below it); ``drawdown_amount`` is the same in money.
    """

    account: str
    at: datetime
    cash: Decimal
    equity: Decimal
    long_exposure: Decimal
    short_exposure: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    high_water_mark: Decimal
    drawdown: Decimal
    drawdown_amount: Decimal
    open_positions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyPnl:
    """P&L since the start-of-day snapshot: ``total == realised + unrealised`` (no deposits)."""

    total: Decimal
    realised: Decimal
    unrealised: Decimal
    start_equity: Decimal

    @property
    def fraction(self) -> Decimal:
        """``total`` as a fraction of the start-of-day equity (0 when that equity is not positive)."""
        return money(self.total / self.start_equity) if self.start_equity > 0 else _ZERO


def mark_to_market(
    positions: Iterable[Position],
    *,
    account: str,
    cash: Decimal,
    prices: Mapping[str, Decimal],
    at: datetime,
    previous: PortfolioSnapshot | None = None,
) -> PortfolioSnapshot:
    """Snapshot ``account`` at ``prices``, carrying the high-water mark of ``previous``.

    Raises:
        InputError: a position belongs to another account, an open position has no finite
            positive price, ``cash`` is not finite, or ``at`` is naive.
    """
    if at.tzinfo is None:
        raise InputError("at: must be timezone-aware")
    if not cash.is_finite():
        raise InputError(f"cash: must be finite, got {cash}")
    if previous is not None and previous.account != account:
        raise InputError(f"previous snapshot is for {previous.account}, not {account}")
    long_value = short_value = realised = unrealised = _ZERO
    missing: list[str] = []
    count = 0
    for position in positions:
        if position.account != account:
            raise InputError(f"position {position.account}/{position.symbol} is not in account {account}")
        realised += position.realised_pnl
        if position.is_flat:
            continue
        price = prices.get(position.symbol)
        if price is None or not price.is_finite() or price <= 0:
            missing.append(position.symbol)
            continue
        count += 1
        value = position.market_value(price)
        unrealised += value - position.cost_basis
        if value >= 0:
            long_value += value
        else:
            short_value += value
    if missing:
        raise InputError(f"no usable price to mark {', '.join(sorted(missing))}")
    equity = cash + long_value + short_value
    high = equity if previous is None else max(previous.high_water_mark, equity)
    drop = high - equity
    return PortfolioSnapshot(
        account=account,
        at=at,
        cash=cash,
        equity=equity,
        long_exposure=long_value,
        short_exposure=short_value,
        gross_exposure=long_value - short_value,
        net_exposure=long_value + short_value,
        realised_pnl=realised,
        unrealised_pnl=unrealised,
        high_water_mark=high,
        drawdown=money(drop / high) if high > 0 else _ZERO,
        drawdown_amount=drop,
        open_positions=count,
    )


def daily_pnl(current: PortfolioSnapshot, start_of_day: PortfolioSnapshot) -> DailyPnl:
    """P&L of ``current`` against the session's first snapshot.

    Raises:
        InputError: the snapshots are of different accounts or out of order.
    """
    if current.account != start_of_day.account:
        raise InputError(f"snapshots of different accounts ({current.account}, {start_of_day.account})")
    if current.at < start_of_day.at:
        raise InputError("the start-of-day snapshot is newer than the current one")
    return DailyPnl(
        total=current.equity - start_of_day.equity,
        realised=current.realised_pnl - start_of_day.realised_pnl,
        unrealised=current.unrealised_pnl - start_of_day.unrealised_pnl,
        start_equity=start_of_day.equity,
    )
