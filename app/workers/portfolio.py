"""Portfolio use cases: reconcile the book with the broker, mark it to market, summarise it.

The book is ``trading.positions`` of the account named by ``broker_label`` (``simulated``,
``alpaca-paper`` or ``alpaca-live``); the broker (``Container.broker``) is authoritative.

Cash: the simulated paper account's cash is ``SIM_INITIAL_CASH`` plus the cash its fills moved
(``realised P&L - cost basis`` summed over its positions, flat ones included), so a fresh
process computes it from the book alone; an Alpaca account's cash is what Alpaca reports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.errors import InputError
from app.execution.factory import broker_label
from app.portfolio import (
    DailyPnl,
    PortfolioSnapshot,
    Position,
    ReconciliationReport,
    daily_pnl,
    mark_to_market,
    money,
    reconcile,
)
from app.storage.repositories.portfolio import PortfolioRepository

if TYPE_CHECKING:
    from app.bootstrap import Container

__all__ = [
    "PRICE_LOOKBACK_DAYS",
    "PortfolioSummary",
    "ReconcileOutcome",
    "book_cash",
    "latest_closes",
    "latest_prices",
    "platform_now",
    "portfolio_summary",
    "reconcile_book",
    "take_snapshot",
]

log = logging.getLogger("app.workers.portfolio")

PRICE_LOOKBACK_DAYS = 14
"""How far back the latest close of a symbol is looked for (covers long market holidays)."""


@dataclass(frozen=True, slots=True)
class ReconcileOutcome:
    """A reconciliation and whether its adjusting entries were recorded."""

    report: ReconciliationReport
    applied: bool

    @property
    def unresolved(self) -> int:
        """Differences left between book and broker (0 once applied)."""
        return 0 if self.applied else len(self.report.differences)

    def to_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "account": report.account,
            "at": report.at.isoformat(),
            "applied": self.applied,
            "unresolved": self.unresolved,
            "differences": [
                {
                    "kind": d.kind,
                    "action": d.action,
                    "symbol": d.symbol,
                    "book_quantity": str(d.book_quantity),
                    "broker_quantity": str(d.broker_quantity),
                    "book_average_cost": str(d.book_average_cost),
                    "broker_average_cost": str(d.broker_average_cost),
                    "open_orders": [o.client_order_id for o in d.open_orders],
                    "description": d.describe(),
                }
                for d in report.differences
            ],
            "entries": [
                {
                    "symbol": e.symbol,
                    "kind": e.kind,
                    "quantity_before": str(e.quantity_before),
                    "quantity_after": str(e.quantity_after),
                    "average_cost_before": str(e.average_cost_before),
                    "average_cost_after": str(e.average_cost_after),
                    "source": "reconcile",
                    "who": e.who,
                    "why": e.why,
                }
                for e in report.entries
            ],
            "open_orders": len(report.open_orders),
        }


def _repository(services: Container) -> PortfolioRepository:
    return PortfolioRepository(services.db)


def reconcile_book(
    services: Container, *, apply: bool, who: str, why: str, at: datetime | None = None
) -> ReconcileOutcome:
    """Compare the book with the broker; with ``apply`` record the adjusting entries.

    Raises:
        InputError: ``who``/``why`` blank, or the book moved while applying (reconcile again).
        RetryableError: the broker or the database did not answer.
    """
    account = broker_label(services.settings)
    when = at or datetime.now(UTC)
    broker = services.broker
    report = reconcile(
        account,
        _repository(services).positions(account),
        broker.list_positions(),
        broker.list_open_orders(),
        who=who,
        why=why,
        at=when,
    )
    applied = False
    if apply and report.entries:
        _repository(services).apply_adjustments(report.entries)
        applied = True
        log.warning(
            "reconciliation applied %d adjusting entries",
            len(report.entries),
            extra={"account": account, "who": who, "symbols": [e.symbol for e in report.entries]},
        )
    elif report.differences:
        log.warning(
            "book differs from the broker in %d symbols",
            len(report.differences),
            extra={"account": account, "symbols": [d.symbol for d in report.differences]},
        )
    return ReconcileOutcome(report, applied)


def book_cash(services: Container, account: str, positions: list[Position]) -> Decimal:
    """The account's cash (see the module docstring for where it comes from)."""
    if account == "simulated":
        flows = sum((p.realised_pnl - p.cost_basis for p in positions), Decimal(0))
        return money(services.settings.SIM_INITIAL_CASH + flows)
    return services.broker.get_account().cash


def platform_now(services: Container) -> datetime:
    """The platform's "now": the replayed ``REPLAY_CLOCK_FILE`` when set, else the wall clock.

    Raises:
        ConfigError: the replay clock is misconfigured or unreadable.
    """
    from app.domain.clock import build_clock

    settings = services.settings
    return build_clock(settings.REPLAY_CLOCK_FILE, broker=settings.BROKER)()


def latest_prices(
    services: Container, symbols: list[str], *, interval: str, now: datetime
) -> dict[str, Decimal]:
    """Each symbol's close of its latest ``interval`` bar from ``SCHEDULE_DAL_VENDOR`` that had
    ended at ``now`` (a forming bar is never used); ``1Day`` reads the closes on or before
    ``now``'s UTC date (:func:`latest_closes`).

    Raises:
        InputError: a symbol has no ended bar in the last :data:`PRICE_LOOKBACK_DAYS` days.
        AiTraderError: the vendor failed.
    """
    from app.domain.intervals import get_interval
    from app.router.freshness import complete_bars

    spec = get_interval(interval)
    if spec.is_daily:
        return latest_closes(services, symbols, now.astimezone(UTC).date())
    market = services.market_data
    vendor = services.settings.SCHEDULE_DAL_VENDOR
    start = now - timedelta(days=PRICE_LOOKBACK_DAYS)
    prices: dict[str, Decimal] = {}
    for symbol in symbols:
        bars = complete_bars(market.fetch(vendor, symbol, start, now, interval=interval).bars, spec, now)
        if bars.empty:
            raise InputError(
                f"no ended {interval} bar for {symbol} from {vendor} in the "
                f"{PRICE_LOOKBACK_DAYS} days before {now.isoformat()}"
            )
        prices[symbol] = money(Decimal(str(float(bars["close"].iloc[-1]))))
    return prices


def latest_closes(services: Container, symbols: list[str], on: date) -> dict[str, Decimal]:
    """Each symbol's latest daily close on or before ``on`` from ``SCHEDULE_DAL_VENDOR``.

    Raises:
        InputError: a symbol has no bar in the last :data:`PRICE_LOOKBACK_DAYS` days.
        AiTraderError: the vendor failed.
    """
    market = services.market_data
    vendor = services.settings.SCHEDULE_DAL_VENDOR
    end = on
    prices: dict[str, Decimal] = {}
    for symbol in symbols:
        result = market.fetch(vendor, symbol, end - timedelta(days=PRICE_LOOKBACK_DAYS), end, interval="1Day")
        bars = result.bars
        if bars.empty:
            raise InputError(
                f"no bar for {symbol} from {vendor} in the {PRICE_LOOKBACK_DAYS} days before {end}"
            )
        prices[symbol] = money(Decimal(str(float(bars["close"].iloc[-1]))))
    return prices


def take_snapshot(
    services: Container,
    at: datetime | None = None,
    *,
    prices_on: date | None = None,
    interval: str = "1Day",
) -> PortfolioSnapshot:
    """Mark the book to market and store the snapshot at ``at`` (default: the platform's now,
    :func:`platform_now`), carrying the high-water mark.

    With ``interval`` ``1Day`` (the default) each held symbol is marked at its latest daily
    close on or before ``prices_on`` (default ``at``'s UTC date); with an intraday interval, at
    the close of its latest bar of that interval that had ended at ``at``.

    Raises:
        InputError: a held symbol has no usable price (nothing is stored).
        AiTraderError: the vendor, the broker or the database failed.
    """
    when = at or platform_now(services)
    account = broker_label(services.settings)
    repository = _repository(services)
    positions = repository.positions(account, include_flat=True)
    held = [p.symbol for p in positions if not p.is_flat]
    if prices_on is not None or interval == "1Day":
        prices = latest_closes(services, held, prices_on or when.astimezone(UTC).date())
    else:
        prices = latest_prices(services, held, interval=interval, now=when)
    snapshot = mark_to_market(
        positions,
        account=account,
        cash=book_cash(services, account, positions),
        prices=prices,
        at=when,
        previous=repository.latest_snapshot(account),
    )
    repository.save_snapshot(snapshot)
    return snapshot


@dataclass(frozen=True, slots=True)
class PortfolioSummary:
    """The book now: positions, the latest snapshot and the day's P&L against the session start."""

    account: str
    positions: list[Position]
    latest: PortfolioSnapshot | None
    today: DailyPnl | None


def portfolio_summary(services: Container, session: date | None = None) -> PortfolioSummary:
    """The account's positions, latest snapshot, and P&L of ``session`` (UTC date; default today).

    The day's P&L compares the latest snapshot with the last one before the session began
    (the previous close), or the session's first snapshot when there is none before.
    """
    account = broker_label(services.settings)
    repository = _repository(services)
    positions = repository.positions(account)
    latest = repository.latest_snapshot(account)
    today = None
    if latest is not None:
        day = session or latest.at.astimezone(UTC).date()
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        reference = repository.latest_snapshot(account, before=start) or repository.first_snapshot_since(
            account, start
        )
        if reference is not None and reference.at <= latest.at:
            today = daily_pnl(latest, reference)
    return PortfolioSummary(account, positions, latest, today)


def snapshot_dict(snapshot: PortfolioSnapshot) -> dict[str, Any]:
    """A snapshot as JSON-ready values (money as strings)."""
    return {
        "account": snapshot.account,
        "ts": snapshot.at.isoformat(),
        "equity": str(snapshot.equity),
        "cash": str(snapshot.cash),
        "long_exposure": str(snapshot.long_exposure),
        "short_exposure": str(snapshot.short_exposure),
        "gross_exposure": str(snapshot.gross_exposure),
        "net_exposure": str(snapshot.net_exposure),
        "realised_pnl": str(snapshot.realised_pnl),
        "unrealised_pnl": str(snapshot.unrealised_pnl),
        "high_water_mark": str(snapshot.high_water_mark),
        "drawdown": str(snapshot.drawdown),
        "drawdown_amount": str(snapshot.drawdown_amount),
        "open_positions": snapshot.open_positions,
    }


def position_dict(position: Position) -> dict[str, Any]:
    """A position as JSON-ready values (money as strings)."""
    return {
        "account": position.account,
        "symbol": position.symbol,
        "side": position.side,
        "qty": str(position.quantity),
        "avg_cost": str(position.average_cost),
        "cost_basis": str(position.cost_basis),
        "realised_pnl": str(position.realised_pnl),
        "fees": str(position.fees),
        "last_fill_ts": position.last_fill_at.isoformat() if position.last_fill_at else None,
    }
