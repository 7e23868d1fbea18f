"""The position book: ``GET /positions``, ``GET /portfolio``, ``GET /portfolio/history``,
``POST /portfolio/reconcile`` and ``POST /portfolio/reconcile/acknowledge``.

Figures are those of the configured broker's account (``simulated``, ``alpaca-paper`` or
``alpaca-live``). Equity, exposure, unrealised P&L and drawdown come from the latest stored
snapshot (marked to market by the 18:00 reports job, or ``ai-trader portfolio snapshot``);
positions, realised P&L and cash are read from the book now. Money values are decimal
strings, timestamps ISO 8601 in UTC.
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import ContainerDep
from app.api.openapi import problem_responses
from app.api.routes.orders import DecimalText
from app.errors import InputError
from app.execution.factory import broker_label
from app.portfolio import PortfolioSnapshot, Position
from app.portfolio.attribution import PnlBucket, RealisedBreakdown
from app.storage.repositories.portfolio import MAX_HISTORY, PortfolioRepository
from app.validation import IsoDateTime, StrictFlag
from app.workers.portfolio import book_cash, portfolio_summary, reconcile_book

__all__ = ["router"]

router = APIRouter(tags=["portfolio"])


class PositionOut(BaseModel):
    account: str
    symbol: str
    side: Literal["long", "short", "flat"]
    qty: DecimalText
    avg_cost: DecimalText
    cost_basis: DecimalText
    realised_pnl: DecimalText
    fees: DecimalText
    last_fill_ts: datetime | None

    @classmethod
    def of(cls, position: Position) -> PositionOut:
        return cls(
            account=position.account,
            symbol=position.symbol,
            side=position.side,
            qty=position.quantity,
            avg_cost=position.average_cost,
            cost_basis=position.cost_basis,
            realised_pnl=position.realised_pnl,
            fees=position.fees,
            last_fill_ts=position.last_fill_at,
        )


class PositionsOut(BaseModel):
    account: str
    positions: list[PositionOut]


class SnapshotOut(BaseModel):
    account: str
    ts: datetime
    equity: DecimalText
    cash: DecimalText
    long_exposure: DecimalText
    short_exposure: DecimalText
    gross_exposure: DecimalText
    net_exposure: DecimalText
    realised_pnl: DecimalText
    unrealised_pnl: DecimalText
    high_water_mark: DecimalText
    drawdown: DecimalText = Field(description="Fraction of the high-water mark lost (0.1 = 10 %).")
    drawdown_amount: DecimalText
    open_positions: int

    @classmethod
    def of(cls, snapshot: PortfolioSnapshot) -> SnapshotOut:
        return cls(
            account=snapshot.account,
            ts=snapshot.at,
            equity=snapshot.equity,
            cash=snapshot.cash,
            long_exposure=snapshot.long_exposure,
            short_exposure=snapshot.short_exposure,
            gross_exposure=snapshot.gross_exposure,
            net_exposure=snapshot.net_exposure,
            realised_pnl=snapshot.realised_pnl,
            unrealised_pnl=snapshot.unrealised_pnl,
            high_water_mark=snapshot.high_water_mark,
            drawdown=snapshot.drawdown,
            drawdown_amount=snapshot.drawdown_amount,
            open_positions=snapshot.open_positions,
        )


class DayPnlOut(BaseModel):
    total: DecimalText
    realised: DecimalText
    unrealised: DecimalText
    fraction: DecimalText
    start_equity: DecimalText


class PortfolioOut(BaseModel):
    """The account now. Marked figures are ``null`` until the first snapshot exists."""

    account: str
    cash: DecimalText
    realised_pnl: DecimalText
    open_positions: int
    equity: DecimalText | None
    gross_exposure: DecimalText | None
    net_exposure: DecimalText | None
    unrealised_pnl: DecimalText | None
    high_water_mark: DecimalText | None
    drawdown: DecimalText | None
    today_pnl: DayPnlOut | None
    marked_at: datetime | None
    latest_snapshot: SnapshotOut | None
    positions: list[PositionOut]


class HistoryOut(BaseModel):
    account: str
    items: list[SnapshotOut]


class ReconcileRequest(BaseModel):
    """Body of ``POST /portfolio/reconcile``."""

    model_config = ConfigDict(extra="forbid")

    apply: StrictFlag = False
    who: Annotated[str, Field(min_length=1, max_length=128)] = "api"
    why: Annotated[str, Field(min_length=1, max_length=500)] = "reconcile requested through the API"


class DifferenceOut(BaseModel):
    kind: str
    action: str
    symbol: str
    book_quantity: DecimalText
    broker_quantity: DecimalText
    book_average_cost: DecimalText
    broker_average_cost: DecimalText
    open_orders: list[str]
    description: str


class EntryOut(BaseModel):
    symbol: str
    kind: str
    quantity_before: DecimalText
    quantity_after: DecimalText
    average_cost_before: DecimalText
    average_cost_after: DecimalText
    source: str
    who: str
    why: str


class ReconcileOut(BaseModel):
    """Every difference between book and broker; ``unresolved`` is 0 when the book equals
    the broker (nothing differed, or the entries were applied)."""

    account: str
    at: datetime
    applied: bool
    unresolved: int
    differences: list[DifferenceOut]
    entries: list[EntryOut]
    open_orders: int


class AcknowledgeRequest(BaseModel):
    """Body of ``POST /portfolio/reconcile/acknowledge``: who accepts the broker's figures, and why."""

    model_config = ConfigDict(extra="forbid")

    who: Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
    why: Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]


class AcknowledgedDifferenceOut(BaseModel):
    kind: str
    symbol: str
    description: str


class AcknowledgeOut(BaseModel):
    """The ``reconcile:`` latch cleared and the differences set to the broker's figures."""

    cleared: str
    who: str
    why: str
    applied: list[AcknowledgedDifferenceOut]


@router.get("/positions", response_model=PositionsOut)
def list_positions(container: ContainerDep) -> PositionsOut:
    """Open positions of the configured broker's account, by symbol."""
    account = broker_label(container.settings)
    positions = PortfolioRepository(container.db).positions(account)
    return PositionsOut(account=account, positions=[PositionOut.of(p) for p in positions])


@router.get("/portfolio", response_model=PortfolioOut)
def get_portfolio(container: ContainerDep) -> PortfolioOut:
    """Cash, realised P&L and positions now; equity, exposure, unrealised P&L, drawdown and the
    day's P&L as of the latest snapshot."""
    summary = portfolio_summary(container)
    every = PortfolioRepository(container.db).positions(summary.account, include_flat=True)
    latest = summary.latest
    today = summary.today
    return PortfolioOut(
        account=summary.account,
        cash=book_cash(container, summary.account, every),
        realised_pnl=sum((p.realised_pnl for p in every), Decimal(0)),
        open_positions=len(summary.positions),
        equity=latest.equity if latest else None,
        gross_exposure=latest.gross_exposure if latest else None,
        net_exposure=latest.net_exposure if latest else None,
        unrealised_pnl=latest.unrealised_pnl if latest else None,
        high_water_mark=latest.high_water_mark if latest else None,
        drawdown=latest.drawdown if latest else None,
        today_pnl=None
        if today is None
        else DayPnlOut(
            total=today.total,
            realised=today.realised,
            unrealised=today.unrealised,
            fraction=today.fraction,
            start_equity=today.start_equity,
        ),
        marked_at=latest.at if latest else None,
        latest_snapshot=SnapshotOut.of(latest) if latest else None,
        positions=[PositionOut.of(p) for p in summary.positions],
    )


@router.get("/portfolio/history", response_model=HistoryOut)
def portfolio_history(
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY, description="Most snapshots returned.")] = 100,
    since: Annotated[IsoDateTime | None, Query(description="Only snapshots at or after (ISO 8601).")] = None,
    until: Annotated[IsoDateTime | None, Query(description="Only snapshots at or before (ISO 8601).")] = None,
) -> HistoryOut:
    """Stored snapshots, newest first."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InputError(f"{name}: needs a timezone, e.g. 2026-11-02T14:30:00Z (got {value.isoformat()})")
    account = broker_label(container.settings)
    items = PortfolioRepository(container.db).history(account, limit=limit, since=since, until=until)
    return HistoryOut(account=account, items=[SnapshotOut.of(s) for s in items])


_BREAKDOWN: dict[tuple[int, str, int, int | None], tuple[object, RealisedBreakdown]] = {}
"""The newest breakdown per engine, kept while the fills' count and newest id are unchanged
(the engine is held with it, so its ``id`` cannot be reused by another database meanwhile)."""
_BREAKDOWN_LOCK = threading.Lock()


class PnlBucketOut(BaseModel):
    key: str = Field(description="The session day (YYYY-MM-DD, New York) or the strategy's name.")
    realised: DecimalText = Field(description="Realised P&L net of fees.")
    fees: DecimalText
    fills: int


class RealisedPnlOut(BaseModel):
    """Realised P&L from the stored fills, replayed with the book's average-cost arithmetic,
    by session day (oldest first) and by the strategy of the order that realised it."""

    account: str
    total: DecimalText
    by_day: list[PnlBucketOut]
    by_strategy: list[PnlBucketOut]


@router.get("/portfolio/pnl", response_model=RealisedPnlOut)
def portfolio_pnl(
    container: ContainerDep,
    days: Annotated[int, Query(ge=1, le=366, description="Most recent session days listed.")] = 30,
) -> RealisedPnlOut:
    """Realised P&L by session day and by strategy (orders without one: ``(none)``)."""
    from app.portfolio.attribution import realised_breakdown

    account = broker_label(container.settings)
    repository = PortfolioRepository(container.db)
    engine = container.db.engine
    key = (id(engine), account, *repository.fills_version())
    with _BREAKDOWN_LOCK:
        kept = _BREAKDOWN.get(key)
    if kept is None:  # the fills changed: replay them once
        kept = (engine, realised_breakdown(repository.attributed_fills(), account=account))
        with _BREAKDOWN_LOCK:
            _BREAKDOWN.clear()
            _BREAKDOWN[key] = kept
    breakdown = kept[1]

    def out(bucket: PnlBucket) -> PnlBucketOut:
        return PnlBucketOut(key=bucket.key, realised=bucket.realised, fees=bucket.fees, fills=bucket.fills)

    return RealisedPnlOut(
        account=account,
        total=breakdown.total,
        by_day=[out(b) for b in breakdown.by_day[-days:]],
        by_strategy=[out(b) for b in breakdown.by_strategy],
    )


@router.post(
    "/portfolio/reconcile",
    response_model=ReconcileOut,
    responses=problem_responses({503: "The broker or the database did not answer; nothing was compared."}),
)
def reconcile_portfolio(request: ReconcileRequest, container: ContainerDep) -> ReconcileOut:
    """Compare the book with the broker; with ``apply`` record adjusting entries (source
    ``reconcile``) so the book equals the broker."""
    outcome = reconcile_book(container, apply=request.apply, who=request.who, why=request.why)
    return ReconcileOut.model_validate(outcome.to_dict())


@router.post(
    "/portfolio/reconcile/acknowledge",
    response_model=AcknowledgeOut,
    responses=problem_responses(
        {
            422: "Bad body, or the governor is not latched by reconciliation.",
            503: "The broker or the database did not answer; the latch stays.",
        }
    ),
)
def acknowledge_reconcile(request: AcknowledgeRequest, container: ContainerDep) -> AcknowledgeOut:
    """Accept the broker's figures after an unexplained difference latched the governor in
    REDUCING: the book is set to the broker in the symbols no open order explains (adjusting
    entries carrying ``who``/``why``), then the ``reconcile:`` latch is cleared (audited in the
    kill switch's history)."""
    from app.workers.reconciliation import acknowledge

    done = acknowledge(container, who=request.who, why=request.why)
    return AcknowledgeOut.model_validate(done.to_dict())
