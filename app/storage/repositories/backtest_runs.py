"""Backtest runs repository: one row of ``backtest_runs`` per recorded run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.errors import InputError, StorageError
from app.storage.db import Database
from app.storage.models import BacktestRun

__all__ = ["BacktestRunRecord", "BacktestRunsRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestRunRecord:
    """One recorded run: what ran (symbol, strategy, vendor, interval, params) and its metrics."""

    run_id: str
    source: str
    symbol: str
    strategy: str
    vendor: str
    interval: str
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    frame_path: str | None = None
    created_at: datetime | None = None


class BacktestRunsRepository:
    """Writes and reads ``backtest_runs``."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(self, record: BacktestRunRecord) -> None:
        """Insert one run; ``created_at`` defaults to now.

        Raises:
            StorageError: the database refused the row (a repeated ``run_id`` included).
        """
        values: dict[str, Any] = {
            "run_id": record.run_id,
            "source": record.source,
            "symbol": record.symbol,
            "strategy": record.strategy,
            "vendor": record.vendor,
            "interval": record.interval,
            "params": dict(record.params),
            "metrics": dict(record.metrics),
            "frame_path": record.frame_path,
        }
        if record.created_at is not None:
            values["created_at"] = record.created_at
        try:
            with self._db.transaction() as session:
                session.add(BacktestRun(**values))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot record the backtest run: {exc.__class__.__name__}: {exc}") from exc

    def recent(self, limit: int = 50) -> list[BacktestRunRecord]:
        """Return the newest ``limit`` runs, newest first.

        Raises:
            InputError: ``limit`` is below 1.
            StorageError: the database did not answer.
        """
        if limit < 1:
            raise InputError(f"limit: must be at least 1, got {limit}")
        try:
            with self._db.session() as session:
                rows = session.scalars(
                    select(BacktestRun)
                    .order_by(BacktestRun.created_at.desc(), BacktestRun.run_id)
                    .limit(limit)
                ).all()
                return [
                    BacktestRunRecord(
                        run_id=row.run_id,
                        source=row.source,
                        symbol=row.symbol,
                        strategy=row.strategy,
                        vendor=row.vendor,
                        interval=row.interval,
                        params=dict(row.params),
                        metrics=dict(row.metrics),
                        frame_path=row.frame_path,
                        created_at=row.created_at,
                    )
                    for row in rows
                ]
        except SQLAlchemyError as exc:
            raise StorageError(f"backtest runs unreadable: {exc.__class__.__name__}: {exc}") from exc
