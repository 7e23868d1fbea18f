"""ORM models for every table ai-trader owns.

Orders and fills live in the ``trading`` schema on PostgreSQL (as the runbook names them:
``trading.orders``, ``trading.fills``). SQLite has no schemas, so the engine maps
``trading`` to the default schema with a schema-translate map; the table names stay the same.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.storage.types import Money, UTCDateTime, utcnow

__all__ = [
    "TRADING_SCHEMA",
    "BacktestRun",
    "Base",
    "Fill",
    "KillSwitchEvent",
    "KillSwitchState",
    "Order",
    "OrderReservation",
    "PortfolioSnapshotRow",
    "PositionAdjustment",
    "PositionRow",
    "SchedulerLease",
    "SimAccount",
    "SimOrder",
    "SimPosition",
    "SimPrice",
    "SweepJob",
]

TRADING_SCHEMA = "trading"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        Decimal: Money(),
        dict[str, Any]: JSON(),
    }


class Order(Base):
    """One order, keyed for idempotency by ``client_order_id``."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_symbol_created_at", "symbol", "created_at"),
        Index("ix_orders_status", "status"),
        {"schema": TRADING_SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(128), unique=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal | None]
    notional: Mapped[Decimal | None]
    type: Mapped[str] = mapped_column(String(16), default="market")
    time_in_force: Mapped[str] = mapped_column(String(8), default="day")
    limit_price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(24), default="new")
    filled_qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    avg_fill_price: Mapped[Decimal | None]
    strategy: Mapped[str | None] = mapped_column(String(64))
    source_event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)

    fills: Mapped[list[Fill]] = relationship(back_populates="order", order_by="Fill.ts")


class Fill(Base):
    """One execution against an order; ``venue_fill_id`` is unique per order."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("order_id", "venue_fill_id"),
        Index("ix_fills_ts", "ts"),
        Index("ix_fills_symbol_ts_id", "symbol", "ts", "id"),
        {"schema": TRADING_SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey(f"{TRADING_SCHEMA}.orders.id", ondelete="CASCADE"))
    venue_fill_id: Mapped[str] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ts: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cum_qty: Mapped[Decimal | None]
    """The order's filled quantity right after this fill (the fill covers the order's shares
    ``(cum_qty - qty, cum_qty]``); null when the venue does not say."""
    inferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Derived from the order's totals, not a reported execution."""

    order: Mapped[Order] = relationship(back_populates="fills")


class PositionRow(Base):
    """One account's holding in one symbol, maintained from fills by the order consumer.

    ``qty`` and ``cost_basis`` are signed (negative: short); ``avg_cost`` is ``cost_basis /
    qty`` (0 when flat). ``realised_pnl`` is net of ``fees``. Reconciliation's adjusting
    entries also write here (``source`` ``reconcile``).
    """

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("account", "symbol"),
        {"schema": TRADING_SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    avg_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    cost_basis: Mapped[Decimal] = mapped_column(default=Decimal(0))
    realised_pnl: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    last_fill_ts: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(16), default="fills")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PositionAdjustment(Base):
    """An adjusting entry recorded by reconciliation: what the book held, what the broker
    said, who applied it and why."""

    __tablename__ = "position_adjustments"
    __table_args__ = (
        Index("ix_position_adjustments_account_ts", "account", "ts"),
        {"schema": TRADING_SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="reconcile")
    qty_before: Mapped[Decimal]
    qty_after: Mapped[Decimal]
    avg_cost_before: Mapped[Decimal]
    avg_cost_after: Mapped[Decimal]
    who: Mapped[str] = mapped_column(String(128))
    why: Mapped[str] = mapped_column(Text)
    ts: Mapped[datetime]


class PortfolioSnapshotRow(Base):
    """An account marked to market at ``ts`` (equity, exposure, P&L, high-water mark)."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (
        Index("ix_portfolio_snapshots_account_ts", "account", "ts"),
        {"schema": TRADING_SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]
    equity: Mapped[Decimal]
    cash: Mapped[Decimal]
    long_exposure: Mapped[Decimal]
    short_exposure: Mapped[Decimal]
    gross_exposure: Mapped[Decimal]
    net_exposure: Mapped[Decimal]
    realised_pnl: Mapped[Decimal]
    unrealised_pnl: Mapped[Decimal]
    high_water_mark: Mapped[Decimal]
    drawdown: Mapped[Decimal]
    drawdown_amount: Mapped[Decimal]
    open_positions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SweepJob(Base):
    """A sweep job and its lifecycle: queued -> dispatched -> running -> completed | failed."""

    __tablename__ = "sweep_registry"
    __table_args__ = (Index("ix_sweep_registry_status", "status"),)

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    config_path: Mapped[str | None] = mapped_column(String(512))
    config_blob: Mapped[str | None] = mapped_column(String(512))
    strategy: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_dir: Mapped[str | None] = mapped_column(String(512))
    execution_name: Mapped[str | None] = mapped_column(String(256))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    dispatched_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class KillSwitchState(Base):
    """The global kill switch: a single row (id 1)."""

    __tablename__ = "kill_switch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # the governor: ACTIVE / REDUCING / HALTED (``active`` is kept equal to state == HALTED)
    state: Mapped[str] = mapped_column(String(16), default="ACTIVE", server_default="ACTIVE")
    latched_reason: Mapped[str | None] = mapped_column(String(64))
    high_water_mark: Mapped[Decimal | None]


class OrderReservation(Base):
    """An order the guard admitted and the order consumer has not written yet (or that expires)."""

    __tablename__ = "order_reservations"
    __table_args__ = (Index("ix_order_reservations_expires_at", "expires_at"),)

    client_order_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    notional: Mapped[Decimal]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class KillSwitchEvent(Base):
    """Audit trail: every change of the switch and every trip of a guard."""

    __tablename__ = "kill_switch_events"
    __table_args__ = (Index("ix_kill_switch_events_ts", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # "set" or "trip"
    reason: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
    symbol: Mapped[str | None] = mapped_column(String(32))


class BacktestRun(Base):
    """A recorded backtest run (skipped when ``BACKTEST_NO_SAVE=1``)."""

    __tablename__ = "backtest_runs"
    __table_args__ = (Index("ix_backtest_runs_created_at", "created_at"),)

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(32))
    strategy: Mapped[str] = mapped_column(String(64))
    vendor: Mapped[str] = mapped_column(String(32))
    interval: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    frame_path: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerLease(Base):
    """Which scheduler runs a schedule (``name``) of this database, and until when.

    The holder renews ``expires_at``; another scheduler takes the row over only after it
    expired, so two platforms on one database never both run the daily jobs."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SimAccount(Base):
    """The simulated broker's paper account: its cash (the venue's side, not the book's).

    The row is also the account's lock: a submit holds it (``SELECT ... FOR UPDATE`` on
    PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) for the whole check-and-fill."""

    __tablename__ = "sim_accounts"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    cash: Mapped[Decimal]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SimPosition(Base):
    """One symbol the paper account holds (or held: flat rows keep their realised P&L)."""

    __tablename__ = "sim_positions"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal]
    cost_basis: Mapped[Decimal]
    realised_pnl: Mapped[Decimal]
    fees: Mapped[Decimal]
    last_fill_ts: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class SimOrder(Base):
    """A report the paper account produced, found again by ``client_order_id``."""

    __tablename__ = "sim_orders"
    __table_args__ = (Index("ix_sim_orders_account_created_at", "account", "created_at"),)

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    report: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SimPrice(Base):
    """The latest price the paper account saw for a symbol (it marks positions with it)."""

    __tablename__ = "sim_prices"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    price: Mapped[Decimal]
    updated_at: Mapped[datetime]
