"""Portfolio snapshots through the day, on a replayed market and clock (real SQLite).

Every intraday refresh marks the book after routing (the day's first also before, as the
day's opening reference) at each held symbol's latest ended bar of the refresh's interval;
the close job (16:05) marks it at the session's last bars; the 18:00 report's day's P&L is
the realised plus unrealised change over the replayed day. Timestamps and "the day" come from
the platform clock (``REPLAY_CLOCK_FILE``), never the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.config import Settings
from app.domain.orders import OrderSide
from app.portfolio import money
from app.storage.repositories.portfolio import PortfolioRepository
from app.workers.daily_jobs import DailyJobs
from tests.integration.portfolio.replay_day import Day, replay_day

SYMBOLS = ("AAPL", "MSFT")


@pytest.fixture
def day(tmp_path: Path, make_settings: Callable[..., Settings]) -> Iterator[Day]:
    with replay_day(tmp_path, make_settings, SYMBOLS) as built:
        yield built


def test_a_refresh_stores_a_snapshot_marked_at_its_own_interval_bars(day: Day) -> None:
    day.at(9, 0)
    day.trade("o-1", "AAPL", OrderSide.BUY, "10", Decimal("100"))
    now = day.at(9, 35)
    assert day.jobs.run("intraday_refresh_0935", day.session)["count"] == len(SYMBOLS)
    record = day.artifact("intraday_refresh_0935")
    assert record["routed"] is True and record["interval"] == "5Min"
    snap = record["snapshot"]
    assert snap["status"] == "ok", snap
    # marked at the close of the newest ended 5-minute bar: the one that started at 09:30
    mark = day.close_at("AAPL", day.at(9, 30))
    repository = PortfolioRepository(day.services.db)
    (aapl,) = repository.positions("simulated")
    cash = day.services.settings.SIM_INITIAL_CASH - aapl.cost_basis + aapl.realised_pnl
    assert Decimal(snap["equity"]) == money(cash + 10 * mark)
    assert Decimal(snap["unrealised_pnl"]) == money(10 * mark - aapl.cost_basis)
    # stored at the replayed clock's time, not the wall clock's
    stored = repository.latest_snapshot("simulated")
    assert stored is not None and stored.at == now and stored.equity == Decimal(snap["equity"])
    # the day had no snapshot: the refresh also marked the book before routing
    assert record["opening_snapshot"]["status"] == "ok"
    assert len(repository.history("simulated")) == 2

    # the next refresh: no second opening mark, one more snapshot at its own time
    later = day.at(11, 30)
    day.jobs.run("intraday_refresh_1130", day.session)
    record = day.artifact("intraday_refresh_1130")
    assert "opening_snapshot" not in record
    assert Decimal(record["snapshot"]["equity"]) == money(cash + 10 * day.close_at("AAPL", day.at(11, 25)))
    history = repository.history("simulated")
    assert len(history) == 3 and history[0].at == later


def test_a_held_symbol_without_a_price_skips_the_snapshot_but_not_the_routing(day: Day) -> None:
    day.at(9, 0)
    day.trade("o-1", "ZZZZ", OrderSide.BUY, "3", Decimal("20"))  # the replay vendor has no ZZZZ
    day.at(9, 35)
    assert day.jobs.run("intraday_refresh_0935", day.session)["count"] == len(SYMBOLS)
    record = day.artifact("intraday_refresh_0935")
    assert record["routed"] is True
    assert [run["symbol"] for run in record["runs"]] == list(SYMBOLS)
    assert all("error" not in run for run in record["runs"]), record["runs"]
    snap = record["snapshot"]
    assert snap["status"] == "skipped" and "ZZZZ" in snap["reason"], snap
    # no guessed price: nothing was stored
    assert PortfolioRepository(day.services.db).history("simulated") == []


def test_the_reports_day_pnl_is_the_realised_and_unrealised_change_over_the_replayed_day(day: Day) -> None:
    repository = PortfolioRepository(day.services.db)
    start_cash = day.services.settings.SIM_INITIAL_CASH
    day.at(9, 35)
    day.jobs.run("intraday_refresh_0935", day.session)  # the opening mark of a flat book
    opening = repository.first_snapshot_since("simulated", day.at(0, 0))
    assert opening is not None and opening.equity == start_cash

    day.at(9, 40)
    day.trade("o-1", "AAPL", OrderSide.BUY, "10", Decimal("100"))
    day.trade("o-2", "MSFT", OrderSide.BUY, "4", Decimal("300"))
    day.at(11, 0)
    day.trade("o-3", "AAPL", OrderSide.SELL, "10", Decimal("90"))  # a realised loss
    day.at(11, 30)
    day.jobs.run("intraday_refresh_1130", day.session)

    # the close job marks the book at the session's last 5-minute bars
    closed = day.at(16, 5)
    day.jobs.run("after_hours_scan", day.session)
    close_snap = day.artifact("after_hours_scan")["snapshot"]
    assert close_snap["status"] == "ok", close_snap
    assert datetime.fromisoformat(close_snap["ts"]) == closed
    assert Decimal(close_snap["unrealised_pnl"]) != 0

    reported = day.at(18, 0)
    report = DailyJobs(day.services, clock=day.jobs.clock).reports(day.session)
    book = report["book"]
    assert book["status"] == "ok", book
    assert datetime.fromisoformat(book["snapshot"]["ts"]) == reported
    positions = repository.positions("simulated", include_flat=True)
    realised = sum((p.realised_pnl for p in positions), Decimal(0))
    assert realised < 0
    final = repository.latest_snapshot("simulated")
    assert final is not None and final.at == reported
    (msft,) = [p for p in positions if not p.is_flat]
    assert final.unrealised_pnl == final.net_exposure - msft.cost_basis
    pnl = book["day_pnl"]
    assert pnl is not None
    assert Decimal(pnl["realised"]) == realised
    assert Decimal(pnl["unrealised"]) == final.unrealised_pnl
    assert Decimal(pnl["total"]) == realised + final.unrealised_pnl == final.equity - start_cash
    markdown = day.jobs.output_path(day.session, "reports").with_suffix(".md").read_text()
    assert f"- day's P&L: {Decimal(pnl['total']):,.2f}" in markdown
