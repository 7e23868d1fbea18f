"""One replayed trading day for the intraday tests: a recorded market, a platform clock file
the test moves, and the container and daily jobs built on them (real SQLite)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from app.bootstrap import Container
from app.config import Settings
from app.domain.clock import build_clock, set_clock_file
from app.domain.orders import OrderEvent, OrderSide
from app.portfolio import money
from app.storage.repositories.orders import SourcedOrderEvent
from app.workers.daily_jobs import DailyJobs
from tests.replay_recording import Recording, record_market

ET = ZoneInfo("America/New_York")


@dataclass
class Day:
    services: Container
    jobs: DailyJobs
    recording: Recording
    clock_file: Path

    @property
    def session(self) -> date:
        return self.recording.session

    def at(self, hour: int, minute: int) -> datetime:
        """Move the platform clock to ``hour:minute`` exchange time of the session (in UTC)."""
        s = self.session
        when = datetime(s.year, s.month, s.day, hour, minute, tzinfo=ET)
        set_clock_file(self.clock_file, when)
        return when.astimezone(UTC)

    def close_at(self, symbol: str, bar_start: datetime) -> Decimal:
        """The recorded close of the 5-minute bar of ``symbol`` that started at ``bar_start``."""
        frame = self.recording.intraday[symbol]
        return money(Decimal(str(float(frame.loc[pd.Timestamp(bar_start), "close"]))))

    def trade(self, cid: str, symbol: str, side: OrderSide, qty: str, price: Decimal) -> None:
        """An order filled by the paper account and recorded by the order consumer's path."""
        intent = OrderEvent(
            client_order_id=cid,
            symbol=symbol,
            side=side,
            qty=Decimal(qty),
            strategy="breakout",
            ts=self.jobs.clock(),
        )
        report = self.services.broker.submit(intent, market_price=price)
        self.services.orders.apply([SourcedOrderEvent(report, f"evt-{cid}")])

    def artifact(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.jobs.output_path(self.session, name).read_text())
        return data


@contextmanager
def replay_day(
    root: Path, make_settings: Callable[..., Settings], symbols: Sequence[str], **settings: Any
) -> Iterator[Day]:
    """A day on ``symbols`` recorded under ``root``, the clock at 09:00; 5-minute refreshes."""
    recording = record_market(root / "recording", tuple(symbols))
    clock_file = root / "clock"
    s = recording.session
    set_clock_file(clock_file, datetime(s.year, s.month, s.day, 9, 0, tzinfo=ET))
    built = make_settings(
        REPLAY_DIR=str(recording.root),
        REPLAY_CLOCK_FILE=str(clock_file),
        SCHEDULE_DAL_VENDOR="replay",
        DAL_AUTO_ORDER="replay",
        WATCHLIST=",".join(symbols),
        WATCHLIST_SIZE=str(len(symbols)),
        SCHEDULE_INTRADAY_INTERVAL="5Min",
        **settings,
    )
    services = Container(built)
    try:
        services.db.upgrade()
        clock = build_clock(built.REPLAY_CLOCK_FILE, broker=built.BROKER)
        yield Day(services, DailyJobs(services, clock=clock), recording, clock_file)
    finally:
        services.close()
