"""The governed guard check on SQLite and PostgreSQL: atomic reservations, states, latches."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.errors import InputError
from app.risk.governor import BookPosition, GovernorBook, GovernorLimits, GovernorState
from app.risk.guard import GuardDecision, GuardLimits, GuardRequest, OrderGuard, trading_day_start
from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_DRAWDOWN,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_REDUCING,
    KILL_SWITCH_UNAVAILABLE,
)
from app.risk.pnl import FillRow, open_positions, realised_pnl
from app.storage.db import Database
from app.storage.models import Fill, Order, OrderReservation
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
CAP = 5


def _request(i: int, *, symbol: str = "AAPL", side: str = "buy", notional: float = 100.0) -> GuardRequest:
    return GuardRequest(symbol=symbol, notional=notional, client_order_id=f"rt-{i}", side=side, price=100.0)


def _reservations(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(OrderReservation)) or 0)


def _filled(db: Database, client_order_id: str, side: str, qty: str, price: str, ts: datetime) -> None:
    """An order and its fill as the order consumer writes them."""
    with db.transaction() as session:
        order = Order(
            client_order_id=client_order_id, symbol="AAPL", side=side, qty=Decimal(qty), status="filled"
        )
        session.add(order)
        session.flush()
        session.add(
            Fill(
                order_id=order.id,
                venue_fill_id=f"f-{client_order_id}",
                symbol="AAPL",
                side=side,
                qty=Decimal(qty),
                price=Decimal(price),
                fee=Decimal(0),
                ts=ts,
            )
        )


@pytest.mark.parametrize(
    "portfolio", [GovernorLimits(), GovernorLimits(max_gross_exposure=100.0)], ids=["cap-only", "with-book"]
)
def test_fifty_concurrent_checks_with_the_consumer_stopped_admit_exactly_the_cap(
    database: Database, portfolio: GovernorLimits
) -> None:
    _filled(database, "held", "buy", "3", "100", NOW - timedelta(days=2))  # a book to read
    guard = OrderGuard(GuardRepository(database), GuardLimits(max_open_orders=CAP, governor=portfolio))
    start = threading.Barrier(50)

    def check(i: int) -> GuardDecision:
        start.wait()
        return guard.check(_request(i), now=NOW)

    with ThreadPoolExecutor(max_workers=50) as pool:
        decisions = list(pool.map(check, range(50)))
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == CAP
    assert {d.reason for d in decisions if not d.allowed} == {KILL_SWITCH_MAX_ORDERS}
    assert _reservations(database) == CAP
    assert all(d.limit_use["max_open_orders"] <= 1.0 for d in allowed)


def test_a_reservation_ends_when_the_consumer_writes_the_order_is_released_or_expires(
    database: Database,
) -> None:
    guard = OrderGuard(GuardRepository(database), GuardLimits(max_open_orders=2, reservation_ttl_s=60))
    assert guard.check(_request(0), now=NOW).allowed
    assert guard.check(_request(1), now=NOW).allowed
    assert guard.check(_request(2), now=NOW).reason == KILL_SWITCH_MAX_ORDERS
    _filled(database, "rt-0", "buy", "1", "100", NOW)  # the consumer wrote rt-0 (filled: not open)
    assert guard.check(_request(3), now=NOW).allowed
    assert _reservations(database) == 2  # rt-1 and rt-3
    guard.release("rt-3")  # rt-3 was never published
    assert guard.check(_request(4), now=NOW).allowed
    later = NOW + timedelta(seconds=61)  # rt-1 and rt-4 expired
    assert guard.check(_request(5), now=later).allowed
    assert guard.check(_request(6), now=later).allowed
    assert guard.check(_request(7), now=later).reason == KILL_SWITCH_MAX_ORDERS


def test_the_same_order_checked_twice_holds_one_reservation(database: Database) -> None:
    guard = OrderGuard(GuardRepository(database), GuardLimits(max_open_orders=1))
    assert guard.check(_request(0), now=NOW).allowed
    assert guard.check(_request(0), now=NOW).allowed
    assert _reservations(database) == 1


def test_states_are_persisted_and_audited(database: Database) -> None:
    switch = KillSwitchRepository(database)
    assert switch.status().state == "ACTIVE"
    status = switch.set(True, reason="incident 42", actor="alice")
    assert (status.state, status.active, status.actor, status.reason) == (
        "HALTED",
        True,
        "alice",
        "incident 42",
    )
    status = switch.set_state("REDUCING", reason="wind down", actor="bob")
    assert (status.state, status.active) == ("REDUCING", False)
    assert switch.set(False, reason="done", actor="bob").state == "ACTIVE"
    kinds = [(e.kind, e.reason, e.actor) for e in switch.history()]
    assert kinds[:3] == [("set", "off", "bob"), ("set", "reducing", "bob"), ("set", "on", "alice")]
    with pytest.raises(InputError, match="state"):
        switch.set_state("PAUSED", reason="x", actor="y")


def test_reducing_admits_only_orders_that_shrink_the_book_position(database: Database) -> None:
    _filled(database, "seed", "buy", "10", "100", NOW - timedelta(days=3))
    KillSwitchRepository(database).set_state("REDUCING", reason="wind down", actor="ops")
    guard = OrderGuard(GuardRepository(database), GuardLimits())
    assert guard.check(_request(1, side="sell", notional=500), now=NOW).allowed
    assert guard.check(_request(2, side="buy"), now=NOW).reason == KILL_SWITCH_REDUCING
    assert guard.check(_request(3, side="sell", notional=5_000), now=NOW).reason == KILL_SWITCH_REDUCING
    KillSwitchRepository(database).set(True, reason="stop", actor="ops")
    assert guard.check(_request(4, side="sell", notional=100), now=NOW).reason == KILL_SWITCH_ACTIVE


def test_a_drawdown_trip_latches_until_reset(database: Database) -> None:
    # bought 1,000 at 100, sold at 88: realised -12,000 on 100,000 of equity
    _filled(database, "in", "buy", "1000", "100", NOW - timedelta(days=2))
    _filled(database, "out", "sell", "1000", "88", NOW - timedelta(days=1))
    switch = KillSwitchRepository(database)
    limits = GuardLimits(governor=GovernorLimits(max_drawdown=0.1), starting_equity=100_000)
    guard = OrderGuard(GuardRepository(database), limits)
    tripped = guard.check(_request(1), now=NOW)
    assert tripped.reason == KILL_SWITCH_DRAWDOWN and tripped.limit_use["max_drawdown"] == pytest.approx(1.2)
    status = switch.status()
    assert (status.state, status.latched_reason, status.actor) == (
        "REDUCING",
        KILL_SWITCH_DRAWDOWN,
        "governor",
    )
    assert guard.check(_request(2), now=NOW).reason == KILL_SWITCH_REDUCING
    with pytest.raises(InputError, match="reset"):
        switch.set(False, reason="try", actor="ops")
    assert switch.status().state == "REDUCING"
    reset = switch.reset(reason="loss reviewed", actor="ops")
    assert (reset.state, reset.latched_reason) == ("ACTIVE", None)
    assert guard.check(_request(3), now=NOW).allowed  # the mark is re-based at 88,000
    assert [e.reason for e in switch.history() if e.kind == "set"][:2] == ["reset", "reducing"]


def test_a_book_too_old_to_trust_refuses(database: Database) -> None:
    limits = GuardLimits(max_open_orders=CAP, max_book_age_s=30)
    behind = OrderGuard(GuardRepository(database), limits, book_age=lambda: 120.0)
    refused = behind.check(_request(1), now=NOW)
    assert refused.reason == KILL_SWITCH_UNAVAILABLE and "behind" in refused.detail
    current = OrderGuard(GuardRepository(database), limits, book_age=lambda: None)
    assert current.check(_request(2), now=NOW).allowed

    def unreadable() -> float | None:
        raise OSError("blob store down")

    assert OrderGuard(GuardRepository(database), limits, book_age=unreadable).check(
        _request(3), now=NOW
    ).reason == (KILL_SWITCH_UNAVAILABLE)
    assert _reservations(database) == 1


def test_daily_loss_marks_at_the_request_price_and_latches(database: Database) -> None:
    _filled(database, "long", "buy", "100", "100", NOW - timedelta(days=1))  # 100 AAPL at 100
    switch = KillSwitchRepository(database)
    limits = GuardLimits(governor=GovernorLimits(daily_loss=900), starting_equity=100_000)
    guard = OrderGuard(GuardRepository(database), limits)
    calm = guard.check(_request(1), now=NOW)  # marked at 100 (the request's price): no loss
    assert calm.allowed and calm.limit_use["daily_loss"] == 0
    falling = GuardRequest(symbol="AAPL", notional=100.0, client_order_id="rt-2", side="buy", price=91.0)
    tripped = guard.check(falling, now=NOW)  # unrealised -900
    assert (
        tripped.reason == KILL_SWITCH_DAILY_LOSS and switch.status().latched_reason == KILL_SWITCH_DAILY_LOSS
    )
    closing = GuardRequest(symbol="AAPL", notional=4_550.0, client_order_id="rt-3", side="sell", price=91.0)
    assert guard.check(closing, now=NOW).allowed  # REDUCING still closes half the position


def test_the_configured_daily_loss_limit_refuses_without_latching(database: Database) -> None:
    _filled(database, "in", "buy", "10", "100", NOW - timedelta(hours=3))
    _filled(database, "out", "sell", "10", "40", NOW - timedelta(hours=2))  # realised -600 today
    guard = OrderGuard(GuardRepository(database), GuardLimits(daily_loss=500, max_open_orders=CAP))
    assert guard.check(_request(1), now=NOW).reason == KILL_SWITCH_DAILY_LOSS
    assert KillSwitchRepository(database).status().state == "ACTIVE"
    assert (
        OrderGuard(GuardRepository(database), GuardLimits(daily_loss=700)).check(_request(2), now=NOW).allowed
    )


def test_the_kept_replay_of_the_fills_follows_every_new_fill(database: Database) -> None:
    # one repository for the whole test: its replay of the fills is kept between checks
    _filled(database, "seed", "buy", "10", "100", NOW - timedelta(days=3))
    KillSwitchRepository(database).set_state("REDUCING", reason="wind down", actor="ops")
    guard = OrderGuard(GuardRepository(database), GuardLimits())
    assert guard.check(_request(1, side="sell", notional=1_000), now=NOW).allowed  # sells the 10 held
    guard.store.release("rt-1")
    assert guard.check(_request(2, side="sell", notional=1_500), now=NOW).reason == KILL_SWITCH_REDUCING
    _filled(database, "more", "buy", "5", "100", NOW - timedelta(hours=1))  # now 15 held
    assert guard.check(_request(3, side="sell", notional=1_500), now=NOW).allowed
    guard.store.release("rt-3")
    # a fill back-dated before the kept replay's newest one is seen too
    _filled(database, "late", "sell", "15", "100", NOW - timedelta(days=2))
    assert guard.check(_request(4, side="sell", notional=100), now=NOW).reason == KILL_SWITCH_REDUCING


# --- the day-start book plus today's fills equals the replay of every fill ------------------

SYMBOLS = ("AAPL", "MSFT", "NVDA")
DAY0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a Monday, 09:30 in New York


def _store_fills(
    db: Database, rows: list[tuple[str, str, Decimal, Decimal, Decimal, datetime]], tag: str
) -> None:
    """Orders and fills as the order consumer writes them (one order per fill)."""
    with db.transaction() as session:
        for i, (symbol, side, qty, price, fee, ts) in enumerate(rows):
            order = Order(client_order_id=f"{tag}-{i}", symbol=symbol, side=side, qty=qty, status="filled")
            session.add(order)
            session.flush()
            session.add(
                Fill(
                    order_id=order.id,
                    venue_fill_id=f"f-{tag}-{i}",
                    symbol=symbol,
                    side=side,
                    qty=qty,
                    price=price,
                    fee=fee,
                    ts=ts,
                )
            )


def _full_replay(db: Database, now: datetime, since: datetime) -> GovernorBook:
    """The governor's book as every fill up to ``now`` replayed in time order (the old reading)."""
    with db.engine.connect() as connection:
        rows: list[FillRow] = [
            (r[0], r[1], Decimal(r[2]), Decimal(r[3]), Decimal(r[4]), r[5])
            for r in connection.execute(
                select(Fill.symbol, Fill.side, Fill.qty, Fill.price, Fill.fee, Fill.ts)
                .where(Fill.ts <= now)
                .order_by(Fill.ts, Fill.id)
            )
        ]
    marks = {row[0]: row[3] for row in rows}
    return GovernorBook(
        state=GovernorState.ACTIVE,
        positions={s: BookPosition(p.qty, p.avg_cost, marks.get(s)) for s, p in open_positions(rows).items()},
        realised_today=realised_pnl(rows, since),
        realised_total=realised_pnl(rows, datetime(1970, 1, 1, tzinfo=UTC)),
    )


def _history(seed: int) -> list[tuple[str, str, Decimal, Decimal, Decimal, datetime]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(70):
        when = DAY0 + timedelta(days=rng.randrange(5), minutes=rng.randrange(390))
        rows.append(
            (
                rng.choice(SYMBOLS),
                rng.choice(("buy", "buy", "sell")),
                Decimal(rng.randrange(1, 400)) / 10,
                Decimal(rng.randrange(5_000, 15_000)) / 100,
                Decimal(rng.randrange(0, 300)) / 100,
                when,
            )
        )
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_day_start_book_plus_todays_fills_equals_the_full_replay(database: Database, seed: int) -> None:
    """Fills arrive in batches out of time order (back-dated ones, many before the day the kept
    book starts) while checks move on through the week: each sees exactly the book the replay
    of every fill gives, with one kept repository and with a fresh one."""
    history = _history(seed)
    random.Random(seed).shuffle(history)
    kept = GuardRepository(database)
    checks = [DAY0 + timedelta(days=d, hours=h) for d in range(8) for h in (0, 3)]
    for batch in range(7):
        _store_fills(database, history[batch * 10 : (batch + 1) * 10], f"s{seed}-b{batch}")
        for now in checks[batch * 2 : batch * 2 + 2]:  # the kept book moves on a day per batch
            since = trading_day_start(now)
            expected = _full_replay(database, now, since)
            for repository in (kept, GuardRepository(database)):
                book = repository.governor_book(now, since, Decimal(100_000))
                assert book.positions == expected.positions, (batch, now)
                assert (book.realised_today, book.realised_total) == (
                    expected.realised_today,
                    expected.realised_total,
                ), (batch, now)
