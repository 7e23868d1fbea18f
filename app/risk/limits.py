"""Each governor limit's use by a marked book (what the 18:00 report shows beside the book).

The governor checks limits against the book *after* an order (:mod:`app.risk.governor`); a
report shows where the book itself stands: the same measures on the snapshot, as fractions of
each configured limit (1.0 = at the limit), with the ones at :data:`~app.risk.governor.WARN_AT`
or more flagged. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from app.portfolio.book import Position
from app.portfolio.marking import DailyPnl, PortfolioSnapshot
from app.risk.governor import WARN_AT, GovernorLimits

__all__ = ["LimitUse", "limit_use"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class LimitUse:
    """Per enforced limit: the measure, the limit and the fraction used; ``warnings`` those at
    :data:`WARN_AT` or more; ``unmeasured`` the limits the book could not measure (and why)."""

    measures: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    use: dict[str, float] = field(default_factory=dict)
    unmeasured: dict[str, str] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return sorted(name for name, used in self.use.items() if used >= WARN_AT)


def _fraction(measure: Decimal, limit: float) -> float:
    if limit == 0:
        return 1.0 if measure > 0 else 0.0
    return round(float(measure / Decimal(str(limit))), 6)


def limit_use(
    snapshot: PortfolioSnapshot,
    positions: list[Position],
    prices: Mapping[str, Decimal],
    limits: GovernorLimits,
    *,
    day: DailyPnl | None,
    open_orders: int | None,
) -> LimitUse:
    """The use of every limit ``limits`` enforces by the book ``snapshot`` marked (``positions``
    at ``prices``), today's P&L ``day`` and the count of open orders."""
    out = LimitUse()
    equity = snapshot.equity

    def put(name: str, measure: Decimal, limit: float) -> None:
        out.measures[name] = round(float(measure), 6)
        out.limits[name] = float(limit)
        out.use[name] = _fraction(measure, limit)

    ratios = (
        ("max_symbol_weight", limits.max_symbol_weight),
        ("max_gross_exposure", limits.max_gross_exposure),
    )
    for name, limit in ratios:
        if limit is None:
            continue
        if equity <= 0:
            out.unmeasured[name] = f"equity {equity} is not positive"
            continue
        if name == "max_symbol_weight":
            weights = [
                abs(p.quantity * prices[p.symbol]) / equity
                for p in positions
                if not p.is_flat and p.symbol in prices
            ]
            put(name, max(weights, default=_ZERO), limit)
        else:
            put(name, snapshot.gross_exposure / equity, limit)
    if limits.max_open_positions is not None:
        put("max_open_positions", Decimal(snapshot.open_positions), limits.max_open_positions)
    if limits.daily_loss is not None:
        if day is None:
            out.unmeasured["daily_loss"] = "no snapshot before today to measure the day's P&L against"
        else:
            put("daily_loss", max(-day.total, _ZERO), limits.daily_loss)
    if limits.max_drawdown is not None:
        put("max_drawdown", snapshot.drawdown, limits.max_drawdown)
    if limits.max_open_orders is not None:
        if open_orders is None:
            out.unmeasured["max_open_orders"] = "open orders not counted"
        else:
            put("max_open_orders", Decimal(open_orders), limits.max_open_orders)
    return out
