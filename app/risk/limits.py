"""How much of each governor limit a book uses, with no order in flight (pure; no I/O).

The governor (:mod:`app.risk.governor`) checks its limits on the book *after* an order; this
module measures the same limits on a book as it stands, in one code path (:func:`measure`)
fed by either of two views of the book:

* :func:`book_limit_use` - the governor's live book (the console, ``GET /risk/limit-use`` and
  ``/status.limits``): held positions plus live reservations, each symbol marked at its
  newest fill price, equity = starting equity + realised P&L + unrealised P&L, and the
  high-water mark the governor keeps (the starting equity while it has none);
* :func:`limit_use` - a marked snapshot (what the 18:00 report shows beside the book): the
  snapshot's equity, exposure and drawdown, the positions at the report's prices, the day's
  P&L and the count of open orders.

==========================  ================================================  ========================
limit                       measure                                           setting
==========================  ================================================  ========================
``max_symbol_weight``       the largest ``|exposure of a symbol| / equity``   ``RISK_MAX_SYMBOL_WEIGHT``
``max_gross_exposure``      ``sum |exposure| / equity``                       ``RISK_MAX_GROSS_EXPOSURE``
``max_open_positions``      symbols with a non-zero exposure                  ``RISK_MAX_OPEN_POSITIONS``
``daily_loss``              ``max(0, -(realised today + unrealised))``        ``RISK_DAILY_LOSS_LIMIT``
``max_drawdown``            ``max(0, 1 - equity / high-water mark)``          ``RISK_MAX_DRAWDOWN``
``max_open_orders``         open orders plus live reservations                ``KILL_SWITCH_MAX_OPEN_ORDERS``
==========================  ================================================  ========================

``use`` is ``measure / limit`` (1.0 = at the limit; a zero limit is fully used by anything);
a limit that is not configured is listed with ``limit=None`` and ``use=None``; a limit the
book cannot measure (no day to measure the loss against, equity not positive for a ratio)
carries the reason in ``unmeasured``. A negative or NaN limit raises
:class:`~app.errors.InputError`, and so does a live book that cannot be valued (equity not
positive, a non-finite value): no use is shown that cannot be computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from app.errors import InputError
from app.portfolio.book import Position
from app.portfolio.marking import DailyPnl, PortfolioSnapshot
from app.risk.governor import WARN_AT, GovernorBook, GovernorLimits

__all__ = [
    "LIMIT_SETTINGS",
    "BookFigures",
    "LimitUse",
    "LimitUseReport",
    "SnapshotLimitUse",
    "SymbolExposure",
    "book_limit_use",
    "limit_use",
    "measure",
]

LIMIT_SETTINGS: dict[str, tuple[str, str]] = {
    "max_symbol_weight": ("RISK_MAX_SYMBOL_WEIGHT", "largest symbol exposure as a fraction of equity"),
    "max_gross_exposure": ("RISK_MAX_GROSS_EXPOSURE", "sum of exposures as a multiple of equity"),
    "max_open_positions": ("RISK_MAX_OPEN_POSITIONS", "symbols held"),
    "daily_loss": ("RISK_DAILY_LOSS_LIMIT", "loss today: realised today plus open unrealised"),
    "max_drawdown": ("RISK_MAX_DRAWDOWN", "equity below its high-water mark, as a fraction"),
    "max_open_orders": ("KILL_SWITCH_MAX_OPEN_ORDERS", "working orders plus live reservations"),
}
"""Limit name -> (setting, what its measure is), in display order."""

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BookFigures:
    """What the limits are measured on, however the book was valued.

    ``exposures`` is the signed exposure per symbol; ``gross`` the sum of absolute exposures
    when the caller has it from elsewhere (a snapshot marks every position, priced or not);
    ``day_loss`` / ``open_orders`` ``None`` when not known (the limit is then unmeasured).
    """

    equity: Decimal
    exposures: Mapping[str, Decimal]
    open_positions: int
    drawdown: Decimal
    day_loss: Decimal | None
    open_orders: int | None
    gross: Decimal | None = None
    unknown_day_loss: str = "no snapshot before today to measure the day's P&L against"


@dataclass(frozen=True, slots=True)
class LimitUse:
    """One limit: its measure on the book, the limit, the fraction used (``None`` when not set
    or not measured; ``unmeasured`` then says why)."""

    name: str
    setting: str
    description: str
    limit: float | None
    measure: float
    use: float | None
    near: bool  # at or above the governor's warning level (80 %)
    symbol: str | None = None  # for max_symbol_weight: the symbol that measure belongs to
    unmeasured: str | None = None


def _use(measure: Decimal, limit: float | None) -> float | None:
    if limit is None:
        return None
    if limit == 0:
        return 1.0 if measure > 0 else 0.0
    return round(float(measure / Decimal(str(limit))), 6)


def _configured(limits: GovernorLimits) -> dict[str, float | None]:
    def number(value: float | int | None) -> float | None:
        return None if value is None else float(value)

    return {
        "max_symbol_weight": number(limits.max_symbol_weight),
        "max_gross_exposure": number(limits.max_gross_exposure),
        "max_open_positions": number(limits.max_open_positions),
        "daily_loss": number(limits.daily_loss),
        "max_drawdown": number(limits.max_drawdown),
        "max_open_orders": number(limits.max_open_orders),
    }


def measure(figures: BookFigures, limits: GovernorLimits) -> list[LimitUse]:
    """Every limit's measure and use on ``figures``, in :data:`LIMIT_SETTINGS` order.

    Raises:
        InputError: a configured limit is negative or NaN.
    """
    equity = figures.equity
    ratios_ok = equity > 0
    weights = {s: abs(v) / equity for s, v in figures.exposures.items()} if ratios_ok else {}
    heaviest = max(sorted(weights), key=lambda s: weights[s], default=None)
    if ratios_ok:
        gross = (
            figures.gross if figures.gross is not None else sum(map(abs, figures.exposures.values()), _ZERO)
        )
    not_positive = f"equity {equity} is not positive"
    found: dict[str, tuple[Decimal | None, str | None, str | None]] = {  # measure, symbol, why not
        "max_symbol_weight": (
            (weights[heaviest] if heaviest is not None else _ZERO, heaviest, None)
            if ratios_ok
            else (None, None, not_positive)
        ),
        "max_gross_exposure": (gross / equity, None, None) if ratios_ok else (None, None, not_positive),
        "max_open_positions": (Decimal(figures.open_positions), None, None),
        "daily_loss": (
            (max(figures.day_loss, _ZERO), None, None)
            if figures.day_loss is not None
            else (None, None, figures.unknown_day_loss)
        ),
        "max_drawdown": (max(figures.drawdown, _ZERO), None, None),
        "max_open_orders": (
            (Decimal(figures.open_orders), None, None)
            if figures.open_orders is not None
            else (None, None, "open orders not counted")
        ),
    }
    configured = _configured(limits)
    items = []
    for name, (setting, description) in LIMIT_SETTINGS.items():
        limit = configured[name]
        if limit is not None and (limit < 0 or limit != limit):
            raise InputError(f"{setting}={limit!r} is not a usable limit")
        value, symbol, why_not = found[name]
        use = None if value is None else _use(value, limit)
        items.append(
            LimitUse(
                name=name,
                setting=setting,
                description=description,
                limit=limit,
                measure=0.0 if value is None else round(float(value), 6),
                use=use,
                near=use is not None and use >= WARN_AT,
                symbol=symbol,
                unmeasured=why_not if limit is not None else None,
            )
        )
    return items


# --- the governor's live book ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolExposure:
    symbol: str
    qty: Decimal
    avg_cost: Decimal
    mark: Decimal
    exposure: Decimal  # signed: qty x mark plus reserved notional
    unrealised: Decimal
    weight: Decimal  # |exposure| / equity


@dataclass(frozen=True, slots=True)
class LimitUseReport:
    equity: Decimal
    high_water_mark: Decimal
    unrealised: Decimal
    realised_today: Decimal
    items: list[LimitUse]
    symbols: list[SymbolExposure]


def _finite(name: str, value: Decimal) -> Decimal:
    if not value.is_finite():
        raise InputError(f"{name} {value} is not a finite amount")
    return value


def book_limit_use(book: GovernorBook, limits: GovernorLimits) -> LimitUseReport:
    """Each limit's measure and use on the governor's ``book`` as it stands.

    Raises:
        InputError: the book cannot be valued (non-finite value, equity not positive), or a
            limit is not usable.
    """
    exposures: dict[str, Decimal] = {}
    unrealised = _ZERO
    rows: list[tuple[str, Decimal, Decimal, Decimal, Decimal]] = []
    for symbol, position in sorted(book.positions.items()):
        qty = _finite(f"{symbol} quantity", position.qty)
        cost = _finite(f"{symbol} average cost", position.avg_cost)
        mark = _finite(f"{symbol} mark", position.mark if position.mark is not None else cost)
        exposures[symbol] = qty * mark
        gain = qty * (mark - cost)
        unrealised += gain
        rows.append((symbol, qty, cost, mark, gain))
    for symbol, amount in book.pending.items():
        exposures[symbol] = exposures.get(symbol, _ZERO) + _finite(f"{symbol} reserved notional", amount)
    equity = (
        _finite("starting equity", book.starting_equity)
        + _finite("realised P&L", book.realised_total)
        + unrealised
    )
    if equity <= 0:
        raise InputError(f"equity {equity:.2f} is not positive: limit use cannot be computed")
    hwm = max(equity, book.starting_equity if book.high_water_mark is None else book.high_water_mark)
    realised_today = _finite("realised P&L today", book.realised_today)
    figures = BookFigures(
        equity=equity,
        exposures=exposures,
        open_positions=sum(1 for v in exposures.values() if v != 0),
        drawdown=1 - equity / hwm,
        day_loss=-(realised_today + unrealised),
        open_orders=book.open_orders,
    )
    symbols = [
        SymbolExposure(
            symbol=symbol,
            qty=qty,
            avg_cost=cost,
            mark=mark,
            exposure=exposures[symbol],
            unrealised=gain,
            weight=abs(exposures[symbol]) / equity,
        )
        for symbol, qty, cost, mark, gain in rows
    ]
    return LimitUseReport(
        equity=equity,
        high_water_mark=hwm,
        unrealised=unrealised,
        realised_today=realised_today,
        items=measure(figures, limits),
        symbols=symbols,
    )


# --- a marked snapshot -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotLimitUse:
    """Per enforced limit: the measure, the limit and the fraction used; ``warnings`` those at
    :data:`WARN_AT` or more; ``unmeasured`` the limits the book could not measure (and why)."""

    measures: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    use: dict[str, float] = field(default_factory=dict)
    unmeasured: dict[str, str] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return sorted(name for name, used in self.use.items() if used >= WARN_AT)


def limit_use(
    snapshot: PortfolioSnapshot,
    positions: list[Position],
    prices: Mapping[str, Decimal],
    limits: GovernorLimits,
    *,
    day: DailyPnl | None,
    open_orders: int | None,
) -> SnapshotLimitUse:
    """The use of every limit ``limits`` enforces by the book ``snapshot`` marked (``positions``
    at ``prices``), today's P&L ``day`` and the count of open orders.

    Raises:
        InputError: a configured limit is negative or NaN.
    """
    figures = BookFigures(
        equity=snapshot.equity,
        exposures={
            p.symbol: p.quantity * prices[p.symbol] for p in positions if not p.is_flat and p.symbol in prices
        },
        open_positions=snapshot.open_positions,
        drawdown=snapshot.drawdown,
        day_loss=None if day is None else -day.total,
        open_orders=open_orders,
        gross=snapshot.gross_exposure,
    )
    out = SnapshotLimitUse()
    for item in measure(figures, limits):
        if item.limit is None:
            continue
        if item.use is None:
            out.unmeasured[item.name] = item.unmeasured or "not measured"
            continue
        out.measures[item.name] = item.measure
        out.limits[item.name] = item.limit
        out.use[item.name] = item.use
    return out
