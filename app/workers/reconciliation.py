"""Automatic reconciliation: the book checked against the broker before ai-trader trades.

It runs when the scheduler starts leading (``ai-trader up`` / ``schedule serve``), in the
schedule's 03:58 ``startup_check`` and before every intraday refresh. Each difference between
the book (``trading.positions``) and the broker is handled by what explains it:

* **explained** - the broker lists an open order in the symbol, or ai-trader has an order in
  flight there (open in ``trading.orders``, or admitted by the governor and not yet written):
  its fills will move the book; nothing is done now, the next reconciliation looks again;
* **recovered** - before anything is adopted or latched, the orders ai-trader placed in a
  differing symbol that the order consumer never wrote (a reservation the governor kept, live
  or expired: a restart longer than ``RISK_RESERVATION_TTL_S``) are looked up at the broker by
  ``client_order_id`` and the broker's reports written exactly as the consumer writes them
  (``trading.orders``, ``trading.fills`` and the book, idempotent by fill id); book and broker
  are then compared again. When the order's own event arrives later its fills are already
  stored and move the book no further, so a fill counts once whichever path sees it first;
* **adopted** - a position the broker holds and the book does not know (``missing_in_book``),
  opened outside ai-trader: its adjusting entry is applied at once (source ``reconcile``);
* **unexplained** - any other difference: the governor is latched in REDUCING with the reason
  ``reconcile:<kind> <symbol>`` until an operator acknowledges it (:func:`acknowledge`, which
  first sets the book to the broker's figures) or resets the switch.

A reconciliation that cannot read the broker or the book raises
:class:`ReconcileUnavailable`; a refresh then does not route (it fails closed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.errors import RetryableError
from app.execution.factory import broker_label
from app.portfolio import MissingInBook, PositionDifference, reconcile
from app.storage.repositories.kill_switch import RECONCILE_LATCH_PREFIX, KillSwitchRepository
from app.storage.repositories.orders import SourcedOrderEvent
from app.storage.repositories.portfolio import PortfolioRepository

if TYPE_CHECKING:
    from app.bootstrap import Container

__all__ = [
    "AUTO_WHO",
    "RECOVERED_EVENT_PREFIX",
    "Acknowledgement",
    "AutoReconcile",
    "ReconcileUnavailable",
    "acknowledge",
    "auto_reconcile",
    "latch_reason",
]

log = logging.getLogger("app.workers.reconciliation")

AUTO_WHO = "ai-trader"
"""``who`` of the adjusting entries automatic reconciliation records."""


class ReconcileUnavailable(RetryableError):
    """The broker or the book could not be read, so book and broker were not compared."""


def latch_reason(difference: PositionDifference) -> str:
    """The governor's latch reason for ``difference``: ``reconcile:<kind> <symbol>``."""
    return f"{RECONCILE_LATCH_PREFIX}{difference.kind} {difference.symbol}"[:64]


@dataclass(frozen=True, slots=True)
class AutoReconcile:
    """What one automatic reconciliation found and did."""

    trigger: str
    account: str
    at: datetime
    explained: tuple[PositionDifference, ...] = ()
    adopted: tuple[PositionDifference, ...] = ()
    unexplained: tuple[PositionDifference, ...] = ()
    latched: str | None = None
    open_orders: int = 0
    recovered: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def clean(self) -> bool:
        return not (self.explained or self.adopted or self.unexplained)

    def to_dict(self) -> dict[str, Any]:
        def rows(items: tuple[PositionDifference, ...]) -> list[dict[str, Any]]:
            return [{"kind": d.kind, "symbol": d.symbol, "description": d.describe()} for d in items]

        return {
            "trigger": self.trigger,
            "account": self.account,
            "at": self.at.isoformat(),
            "clean": self.clean,
            "explained": rows(self.explained),
            "adopted": rows(self.adopted),
            "unexplained": rows(self.unexplained),
            "latched": self.latched,
            "open_orders": self.open_orders,
            "recovered": list(self.recovered),
        }


def _compare(services: Container, *, who: str, why: str, at: datetime) -> tuple[Any, set[str]]:
    account = broker_label(services.settings)
    repository = PortfolioRepository(services.db)
    try:
        book = repository.positions(account)
        in_flight = repository.in_flight_symbols(at)
        broker = services.broker
        positions = broker.list_positions()
        open_orders = broker.list_open_orders()
    except Exception as exc:  # any failure to read either side: nothing is compared, the caller fails closed
        raise ReconcileUnavailable(
            f"reconciliation of {account} could not read the book or the broker: {type(exc).__name__}: {exc}"
        ) from exc
    report = reconcile(account, book, positions, open_orders, who=who, why=why, at=at)
    return report, in_flight


RECOVERED_EVENT_PREFIX = "reconcile:"
"""``source_event_id`` prefix of the broker reports reconciliation writes for unwritten orders."""


def _recover_unwritten(services: Container, report: Any, in_flight: set[str]) -> tuple[str, ...]:
    """Write the broker's reports of the orders ai-trader placed in the unexplained differences'
    symbols that the order consumer never wrote; return their ``client_order_id``.

    Raises:
        ReconcileUnavailable: the book or the broker could not be read.
        AiTraderError: writing the reports failed in the database.
    """
    symbols = {d.symbol for d in report.differences if not (d.open_orders or d.symbol in in_flight)}
    if not symbols:
        return ()
    try:
        candidates = PortfolioRepository(services.db).unwritten_orders(symbols)
        reports = [found for coid in candidates if (found := services.broker.find_order(coid)) is not None]
    except Exception as exc:  # a broker or book that cannot be read: nothing is adopted or latched
        raise ReconcileUnavailable(
            f"reconciliation could not look up the orders ai-trader placed in {sorted(symbols)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not reports:
        return ()
    services.orders.apply(
        [SourcedOrderEvent(r, f"{RECOVERED_EVENT_PREFIX}{r.client_order_id}") for r in reports]
    )
    recovered = tuple(r.client_order_id for r in reports)
    log.warning(
        "reconciliation wrote %d orders the broker has and the order consumer never wrote",
        len(recovered),
        extra={"client_order_ids": list(recovered), "symbols": sorted({r.symbol for r in reports})},
    )
    return recovered


def _compare_recovering(
    services: Container, *, who: str, why: str, at: datetime
) -> tuple[Any, set[str], tuple[str, ...]]:
    """:func:`_compare`, after the unwritten orders of the differing symbols are recovered."""
    report, in_flight = _compare(services, who=who, why=why, at=at)
    recovered = _recover_unwritten(services, report, in_flight)
    if recovered:
        report, in_flight = _compare(services, who=who, why=why, at=at)
    return report, in_flight, recovered


def auto_reconcile(services: Container, *, trigger: str, at: datetime | None = None) -> AutoReconcile:
    """Compare book and broker, adopt outside positions, latch REDUCING on anything unexplained.

    Raises:
        ReconcileUnavailable: the broker or the book could not be read.
        AiTraderError: adopting or latching failed in the database.
    """
    when = at or datetime.now(UTC)
    why = f"automatic reconciliation ({trigger})"
    report, in_flight, recovered = _compare_recovering(services, who=AUTO_WHO, why=why, at=when)
    explained: list[PositionDifference] = []
    adopted: list[PositionDifference] = []
    unexplained: list[PositionDifference] = []
    for difference in report.differences:
        if difference.open_orders or difference.symbol in in_flight:
            explained.append(difference)
        elif isinstance(difference, MissingInBook):
            adopted.append(difference)
        else:
            unexplained.append(difference)
    if adopted:
        symbols = {d.symbol for d in adopted}
        PortfolioRepository(services.db).apply_adjustments([e for e in report.entries if e.symbol in symbols])
        log.warning(
            "reconciliation adopted %d positions opened outside ai-trader",
            len(adopted),
            extra={"account": report.account, "trigger": trigger, "symbols": sorted(symbols)},
        )
    latched: str | None = None
    if unexplained:
        latched = latch_reason(unexplained[0])
        detail = "; ".join(d.describe() for d in unexplained)
        KillSwitchRepository(services.db).latch(latched, detail=f"{why}: {detail}", actor="reconcile")
        log.error(
            "book differs from the broker without explanation: governor REDUCING until acknowledged",
            extra={
                "account": report.account,
                "trigger": trigger,
                "reason": latched,
                "symbols": [d.symbol for d in unexplained],
            },
        )
    if explained:
        log.info(
            "book differs from the broker in %d symbols with orders in flight",
            len(explained),
            extra={"account": report.account, "trigger": trigger, "symbols": [d.symbol for d in explained]},
        )
    return AutoReconcile(
        trigger=trigger,
        account=report.account,
        at=when,
        explained=tuple(explained),
        adopted=tuple(adopted),
        unexplained=tuple(unexplained),
        latched=latched,
        open_orders=len(report.open_orders),
        recovered=recovered,
    )


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """An operator's acknowledgement: the latch it cleared and the entries it applied."""

    cleared: str
    applied: tuple[PositionDifference, ...]
    who: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "cleared": self.cleared,
            "who": self.who,
            "why": self.why,
            "applied": [
                {"kind": d.kind, "symbol": d.symbol, "description": d.describe()} for d in self.applied
            ],
        }


def acknowledge(services: Container, *, who: str, why: str, at: datetime | None = None) -> Acknowledgement:
    """An operator accepts the broker's figures: the differences no order explains are applied
    to the book (adjusting entries with ``who``/``why``), then the reconcile latch is cleared.

    Raises:
        InputError: ``who``/``why`` blank, or the governor is not latched by reconciliation.
        ReconcileUnavailable: the broker or the book could not be read (the latch stays).
        AiTraderError: the database refused a write.
    """
    from app.errors import InputError

    who, why = who.strip(), why.strip()
    if not who or not why:
        raise InputError("acknowledging needs --who and --why")
    status = services.kill_switch.status()
    if not (status.latched_reason or "").startswith(RECONCILE_LATCH_PREFIX):
        latched = status.latched_reason
        what = (
            f"latched by {latched}: clear it with `ai-trader kill-switch reset`" if latched else "not latched"
        )
        raise InputError(f"nothing to acknowledge: the governor is {what}")
    when = at or datetime.now(UTC)
    report, in_flight, _ = _compare_recovering(services, who=who, why=why, at=when)
    applied = tuple(d for d in report.differences if not (d.open_orders or d.symbol in in_flight))
    symbols = {d.symbol for d in applied}
    if applied:
        PortfolioRepository(services.db).apply_adjustments([e for e in report.entries if e.symbol in symbols])
    cleared = KillSwitchRepository(services.db).acknowledge(prefix=RECONCILE_LATCH_PREFIX, who=who, why=why)
    log.warning(
        "reconciliation acknowledged: book set to the broker in %d symbols",
        len(applied),
        extra={"who": who, "why": why, "cleared": cleared, "symbols": sorted(symbols)},
    )
    return Acknowledgement(cleared=cleared, applied=applied, who=who, why=why)
