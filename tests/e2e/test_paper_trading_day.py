"""A paper-trading day, end to end, on a replayed market and clock (issue 15, "Proof").

The replay vendor serves a recorded session of 5-minute bars (and the daily history before it)
for a 5-symbol watchlist, never a bar that had not ended at the replayed clock's now. The
platform runs as ``ai-trader up`` starts it, as separate processes on one database (SQLite,
and again on a real PostgreSQL) and the local bus: the scheduler (which runs the router
in-process for the refreshes), the order consumer and the venue worker. The test moves the
clock through the session and the scheduler drives premarket scan -> watchlist -> warm-up ->
intraday refreshes (router -> bus -> consumer, simulated broker -> fills -> book) ->
after-hours scan -> 18:00 report.

After every step: the book (``trading.positions``) equals the sum of the stored fills and the
paper account's positions; no sell was larger than the long it reduced. Mid-day every process
is SIGKILLed during a refresh and started again: the book reconciles and no order is doubled.
A drawdown trip latches the governor in REDUCING, where only reducing orders pass, and only
``kill-switch reset`` clears it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from app.storage.repositories.portfolio import PortfolioRepository
from tests.e2e.paper_day import ET, PaperDay, signed_fills

pytestmark = pytest.mark.e2e


def _cli(day: PaperDay, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=day.env(),
        cwd=day.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _check_books(day: PaperDay, label: str) -> dict[str, Decimal]:
    """Book = sum of fills = broker positions; no exit larger than what it reduced."""
    day.wait_consumed()
    orders, fills = day.orders(), day.fills()
    book = day.book()
    by_fills = signed_fills(fills, orders)
    broker = day.broker_positions()
    assert book == by_fills, f"{label}: book {book} != fills {by_fills}"
    assert book == broker, f"{label}: book {book} != broker {broker}"
    side = {o.client_order_id: o.side for o in orders}
    held: dict[str, Decimal] = {}
    for fill in sorted(fills, key=lambda f: (f.ts, f.id)):
        signed = fill.qty if side[fill.client_order_id] == "buy" else -fill.qty
        before = held.get(fill.symbol, Decimal(0))
        if before and (signed > 0) != (before > 0):  # against the position: an exit
            assert abs(signed) <= abs(before), f"{label}: exit {fill} larger than the holding {before}"
        held[fill.symbol] = before + signed
        assert held[fill.symbol] >= 0, f"{label}: {fill.symbol} went short without SIM_ALLOW_SHORT"
    return book


def _runs(day: PaperDay, job: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = day.artifact(job)["runs"]
    return runs


def _no_duplicate_orders(day: PaperDay) -> None:
    orders = day.orders()
    ids = Counter(o.client_order_id for o in orders)
    assert all(n == 1 for n in ids.values()), ids
    with day.services() as c:
        at_broker = Counter(o.client_order_id for o in c.broker.orders())
    assert all(n == 1 for n in at_broker.values()), at_broker
    assert set(at_broker) <= set(ids), set(at_broker) - set(ids)
    per_decision = Counter((o.symbol, o.strategy, o.client_order_id.rsplit("-", 1)[0]) for o in orders)
    assert all(n == 1 for n in per_decision.values()), per_decision


def test_a_paper_trading_day_on_a_replayed_session(tmp_path: Path, database_url: str) -> None:
    """On SQLite and on a real PostgreSQL (``database_url`` runs it on both)."""
    day = PaperDay.create(
        tmp_path,
        database_url,
        SCHEDULE_STRATEGY="breakout",
        RISK_MAX_DRAWDOWN="0.004",
    )
    session = day.session
    day.start()
    try:
        # 03:58: every readiness check answers
        day.move_clock(3, 58)
        assert day.wait_job("startup_check")["status"] == "ok"

        # 04:00: the premarket scan ranks the watchlist on daily bars that ended before now
        day.move_clock(4, 0)
        assert day.wait_job("premarket_scan")["status"] == "ok"
        scan = day.artifact("premarket_scan")
        assert {r["symbol"] for r in scan["ranked"]} == set(day.recording.symbols), scan["errors"]
        assert all(r["vendor"] == "replay" for r in scan["ranked"])
        assert all(r["as_of"][:10] < session.isoformat() for r in scan["ranked"])

        # 06:15: the watchlist is the best-ranked five
        day.move_clock(6, 15)
        assert day.wait_job("finalize_watchlist")["status"] == "ok"
        watchlist = day.artifact("finalize_watchlist")["symbols"]
        assert sorted(watchlist) == sorted(day.recording.symbols)

        day.move_clock(9, 25)
        assert day.wait_job("warm_up")["status"] == "ok"
        assert day.orders() == []

        # 09:35: the first refresh decides on the 09:30 bar (the newest that ended)
        day.move_clock(9, 35)
        assert day.wait_job("intraday_refresh_0935")["status"] == "ok"
        runs = _runs(day, "intraday_refresh_0935")
        assert [r["symbol"] for r in runs] == watchlist
        newest = pd.Timestamp(2026, 11, 18, 9, 30, tz="America/New_York")
        for run in runs:
            assert run.get("fallback_reason") != "stale_data", run
            assert pd.Timestamp(run["signal_bar_time"]) == newest, run
        book_0935 = _check_books(day, "09:35")
        assert book_0935, "the first refresh bought nothing: the recorded rally did not trade"

        # 11:30: SIGKILL every process in the middle of the refresh, start again
        before = {o.client_order_id for o in day.orders()}
        day.move_clock(11, 30)
        deadline = time.monotonic() + 60
        with day.services() as c:  # watch the paper account: kill right after its first new order
            while time.monotonic() < deadline:
                fresh = [o for o in c.broker.orders() if o.client_order_id not in before]
                if fresh:
                    break
                day.check_alive()
                time.sleep(0.01)
        assert fresh, "the 11:30 refresh placed no order to be interrupted"
        day.kill_all()
        mid = day.ledger()
        assert not [e for e in mid if e["job"] == "intraday_refresh_1130"], "killed after the refresh ended"
        day.start()
        assert day.wait_job("intraday_refresh_1130", timeout_s=120)["status"] == "ok"
        _check_books(day, "11:30 after the restart")
        _no_duplicate_orders(day)
        runs = _runs(day, "intraday_refresh_1130")
        duplicates = [r for r in runs if "order:skipped:duplicate" in r["events"]]
        assert duplicates, "the re-run refresh did not find the order it had already placed"
        # the refresh reconciled before routing: the crash left nothing it could not explain
        assert day.artifact("intraday_refresh_1130")["reconcile"]["latched"] is None
        with day.services() as c:
            assert c.kill_switch.status().state == "ACTIVE"
        reconcile = _cli(day, "portfolio", "reconcile", "--json")
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr

        # 13:30: the crash in MSFT drags equity below the drawdown limit: REDUCING latches
        day.move_clock(13, 30)
        assert day.wait_job("intraday_refresh_1330")["status"] == "ok"
        _check_books(day, "13:30")
        runs = _runs(day, "intraday_refresh_1330")
        with day.services() as c:
            switch = c.kill_switch.status()
            history = c.kill_switch.history(200)
        assert (switch.state, switch.latched_reason) == ("REDUCING", "kill_switch_drawdown"), switch
        (latched,) = [e for e in history if e.kind == "set" and e.actor == "governor"]
        assert latched.reason == "reducing" and "latched by kill_switch_drawdown" in (latched.detail or "")
        # REDUCING admits only orders that shrink a holding: every fill from the trip on is a
        # sell of at most the long held; the buys the strategy still wanted were refused
        held: dict[str, Decimal] = {}
        reducing_fills = 0
        for fill in sorted(day.fills(), key=lambda f: (f.ts, f.id)):
            before = held.get(fill.symbol, Decimal(0))
            if fill.ts >= latched.ts:
                assert fill.side == "sell" and fill.qty <= before, (fill, before)
                reducing_fills += 1
            held[fill.symbol] = before + (fill.qty if fill.side == "buy" else -fill.qty)
        assert reducing_fills >= 1, "the trip admitted no reducing order"
        refused = [r for r in runs if r["fallback_reason"] == "kill_switch_reducing"]
        assert refused and all(r["position"] == 1.0 and not r["published"] for r in refused), runs
        assert {e.symbol for e in history if e.kind == "trip" and e.reason == "kill_switch_reducing"} == {
            r["symbol"] for r in refused
        }

        # the latch holds: `off` is refused, only `reset` clears it
        off = _cli(day, "kill-switch", "off", "--reason", "try", "--actor", "e2e")
        assert off.returncode == 2 and "kill-switch reset" in off.stderr + off.stdout, off
        assert json.loads(_cli(day, "kill-switch", "status", "--json").stdout)["state"] == "REDUCING"
        reset = _cli(day, "kill-switch", "reset", "--reason", "drawdown reviewed", "--actor", "e2e")
        assert reset.returncode == 0, reset.stderr
        assert json.loads(_cli(day, "kill-switch", "status", "--json").stdout)["state"] == "ACTIVE"

        # after the close: scan again, then the 18:00 report with the book
        day.move_clock(16, 5)
        assert day.wait_job("after_hours_scan")["status"] == "ok"
        day.move_clock(18, 0)
        assert day.wait_job("reports")["status"] == "ok"
        report = day.artifact("reports")
        final = _check_books(day, "18:00")
        assert report["book"]["status"] == "ok", report["book"]
        reported = {p["symbol"]: Decimal(p["qty"]) for p in report["book"]["positions"] if Decimal(p["qty"])}
        assert reported == final
        assert report["fills"] == len(day.fills())
        assert report["kill_switch"]["state"] == "ACTIVE"
        assert report["kill_switch"]["trips"]["kill_switch_reducing"] == len(refused)
        # the day's P&L: the realised and unrealised change over the replayed day, measured from
        # the book marked before the first refresh routed (flat, the starting cash)
        with day.services() as c:
            repository = PortfolioRepository(c.db)
            positions = repository.positions("simulated", include_flat=True)
            marks = repository.history("simulated", limit=100)
        snap, pnl = report["book"]["snapshot"], report["book"]["day_pnl"]
        realised = sum((p.realised_pnl for p in positions), Decimal(0))
        assert pnl is not None and realised != 0, (pnl, realised)
        assert Decimal(pnl["realised"]) == realised
        assert Decimal(pnl["unrealised"]) == Decimal(snap["unrealised_pnl"])
        starting_cash = Decimal(day.values["SIM_INITIAL_CASH"])
        assert Decimal(pnl["total"]) == realised + Decimal(snap["unrealised_pnl"])
        assert Decimal(pnl["total"]) == Decimal(snap["equity"]) - starting_cash
        # marked on the replayed clock: before and after the refreshes, at the close, at the report
        assert {m.at.astimezone(ET).strftime("%H:%M") for m in marks} == {
            "09:35",
            "11:30",
            "13:30",
            "16:05",
            "18:00",
        }, marks
        assert {m.at.astimezone(ET).date() for m in marks} == {session}
        _no_duplicate_orders(day)
        ledger = day.ledger()
        assert [e["job"] for e in ledger] == [
            "startup_check",
            "premarket_scan",
            "finalize_watchlist",
            "warm_up",
            "intraday_refresh_0935",
            "intraday_refresh_1130",
            "intraday_refresh_1330",
            "after_hours_scan",
            "reports",
        ], ledger
        assert {e["session"] for e in ledger} == {session.isoformat()}
        codes = day.stop()
        assert all(code == 0 for code in codes.values()), (codes, day.tail_logs())
    finally:
        if day.procs:
            day.kill_all()
