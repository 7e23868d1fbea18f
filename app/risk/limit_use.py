"""How much of each risk limit the book uses now, with no order in flight (pure; no I/O).

The governor (:mod:`app.risk.governor`) measures its limits on the book *after* an order; the
console shows the same measures on the book as it stands: held positions plus live
reservations, each symbol marked at its newest fill price (the governor's mark for a symbol
that is not being ordered), equity = starting equity + realised P&L + unrealised P&L, and the
high-water mark the governor keeps (the starting equity while it has none).

==========================  ================================================  ========================
limit                       measure now                                       setting
==========================  ================================================  ========================
``max_symbol_weight``       the largest ``|exposure of a symbol| / equity``   ``RISK_MAX_SYMBOL_WEIGHT``
``max_gross_exposure``      ``sum |exposure| / equity``                       ``RISK_MAX_GROSS_EXPOSURE``
``max_open_positions``      symbols with a non-zero exposure                  ``RISK_MAX_OPEN_POSITIONS``
``daily_loss``              ``max(0, -(realised today + unrealised))``        ``RISK_DAILY_LOSS_LIMIT``
``max_drawdown``            ``max(0, 1 - equity / high-water mark)``          ``RISK_MAX_DRAWDOWN``
``max_open_orders``         open orders plus live reservations                ``KILL_SWITCH_MAX_OPEN_ORDERS``
==========================  ================================================  ========================

``use`` is ``measure / limit`` (1.0 = at the limit; a zero limit is fully used by anything);
a limit that is not configured is listed with ``limit=None`` and ``use=None``. When the book
cannot be valued (equity not positive, a non-finite value), :func:`limit_use` raises
:class:`~app.errors.InputError` rather than show a use it cannot compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.errors import InputError
from app.risk.governor import WARN_AT, GovernorBook, GovernorLimits

__all__ = ["LIMIT_SETTINGS", "LimitUse", "LimitUseReport", "SymbolExposure", "limit_use"]

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
class LimitUse:
    name: str
    setting: str
    description: str
    limit: float | None
    measure: float
    use: float | None
    near: bool  # at or above the governor's warning level (80 %)
    symbol: str | None = None  # for max_symbol_weight: the symbol that measure belongs to


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


def _use(measure: Decimal, limit: float | None) -> float | None:
    if limit is None:
        return None
    if limit == 0:
        return 1.0 if measure > 0 else 0.0
    return round(float(measure / Decimal(str(limit))), 6)


def limit_use(book: GovernorBook, limits: GovernorLimits) -> LimitUseReport:
    """Each limit's measure and use on ``book`` as it stands (see the module docstring).

    Raises:
        InputError: the book cannot be valued (non-finite value, equity not positive).
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

    weights = {symbol: abs(value) / equity for symbol, value in exposures.items()}
    heaviest = max(sorted(weights), key=lambda s: weights[s], default=None)
    measures: dict[str, tuple[Decimal, float | None, str | None]] = {
        "max_symbol_weight": (
            weights[heaviest] if heaviest is not None else _ZERO,
            limits.max_symbol_weight,
            heaviest,
        ),
        "max_gross_exposure": (
            sum((abs(v) for v in exposures.values()), _ZERO) / equity,
            limits.max_gross_exposure,
            None,
        ),
        "max_open_positions": (
            Decimal(sum(1 for v in exposures.values() if v != 0)),
            None if limits.max_open_positions is None else float(limits.max_open_positions),
            None,
        ),
        "daily_loss": (max(-(realised_today + unrealised), _ZERO), limits.daily_loss, None),
        "max_drawdown": (max(1 - equity / hwm, _ZERO), limits.max_drawdown, None),
        "max_open_orders": (
            Decimal(book.open_orders),
            None if limits.max_open_orders is None else float(limits.max_open_orders),
            None,
        ),
    }
    items = []
    for name, (setting, description) in LIMIT_SETTINGS.items():
        measure, limit, heavy = measures[name]
        if limit is not None and (limit < 0 or limit != limit):
            raise InputError(f"{setting}={limit!r} is not a usable limit")
        use = _use(measure, limit)
        items.append(
            LimitUse(
                name=name,
                setting=setting,
                description=description,
                limit=limit,
                measure=round(float(measure), 6),
                use=use,
                near=use is not None and use >= WARN_AT,
                symbol=heavy,
            )
        )
    symbols = [
        SymbolExposure(
            symbol=symbol,
            qty=qty,
            avg_cost=cost,
            mark=mark,
            exposure=exposures[symbol],
            unrealised=gain,
            weight=weights[symbol],
        )
        for symbol, qty, cost, mark, gain in rows
    ]
    return LimitUseReport(
        equity=equity,
        high_water_mark=hwm,
        unrealised=unrealised,
        realised_today=realised_today,
        items=items,
        symbols=symbols,
    )
