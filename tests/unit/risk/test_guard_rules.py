"""Property tests of the guard's pure rules (``evaluate``) and of ``OrderGuard`` over its port."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.risk.guard import (
    GuardDecision,
    GuardLimits,
    GuardRequest,
    GuardSnapshot,
    OrderGuard,
    SnapshotQuery,
    SnapshotUnavailable,
    evaluate,
    snapshot_query,
    trading_day_start,
)
from app.risk.kill_switch import (
    KILL_SWITCH_ACTIVE,
    KILL_SWITCH_DAILY_LOSS,
    KILL_SWITCH_MAX_ORDERS,
    KILL_SWITCH_NOTIONAL,
    KILL_SWITCH_UNAVAILABLE,
    TRIP_REASONS,
)

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)

limit_values = st.one_of(
    st.none(),
    st.floats(min_value=0.01, max_value=1e7),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf]),
)
notionals = st.one_of(st.floats(min_value=0, max_value=2e7), st.sampled_from([math.nan, math.inf, -1.0]))
caps = st.one_of(st.none(), st.integers(min_value=-2, max_value=8))
pnls = st.one_of(st.none(), st.decimals(min_value=-20_000, max_value=20_000, places=2))

requests = st.builds(
    GuardRequest,
    symbol=st.sampled_from(["AAPL", "MSFT"]),
    notional=notionals,
    kill_switch_active=st.booleans(),
    kill_switch_notional=limit_values,
)
limits_strategy = st.builds(GuardLimits, notional=limit_values, daily_loss=limit_values, max_open_orders=caps)
snapshots = st.builds(
    GuardSnapshot,
    kill_switch_active=st.booleans(),
    open_orders=st.one_of(st.none(), st.integers(min_value=0, max_value=10)),
    realised_pnl=pnls,
)
snapshot_or_unavailable = st.one_of(snapshots, st.builds(SnapshotUnavailable, st.text(max_size=20)))


def _usable(limit: float | None) -> bool:
    return limit is None or (math.isfinite(limit) and limit > 0)


def _expected_reason(
    request: GuardRequest, snapshot: GuardSnapshot | SnapshotUnavailable, limits: GuardLimits
) -> str | None:
    """The rules of ``app.risk.guard``'s docstring, restated check by check."""
    if request.kill_switch_active:
        return KILL_SWITCH_ACTIVE
    if isinstance(snapshot, SnapshotUnavailable):
        return KILL_SWITCH_UNAVAILABLE
    if snapshot.kill_switch_active:
        return KILL_SWITCH_ACTIVE
    notional = request.notional
    if not (math.isfinite(notional) and notional >= 0):
        return KILL_SWITCH_UNAVAILABLE
    for limit in (request.kill_switch_notional, limits.notional):
        if not _usable(limit):
            return KILL_SWITCH_UNAVAILABLE
        if limit is not None and notional > limit:
            return KILL_SWITCH_NOTIONAL
    if limits.daily_loss is not None:
        if not _usable(limits.daily_loss) or snapshot.realised_pnl is None:
            return KILL_SWITCH_UNAVAILABLE
        if snapshot.realised_pnl <= -Decimal(str(limits.daily_loss)):
            return KILL_SWITCH_DAILY_LOSS
    if limits.max_open_orders is not None:
        if limits.max_open_orders < 0 or snapshot.open_orders is None:
            return KILL_SWITCH_UNAVAILABLE
        if snapshot.open_orders >= limits.max_open_orders:
            return KILL_SWITCH_MAX_ORDERS
    return None


@settings(max_examples=500, deadline=None)
@given(request=requests, snapshot=snapshot_or_unavailable, limits=limits_strategy)
def test_evaluate_allows_only_when_every_check_ran_and_passed(
    request: GuardRequest, snapshot: GuardSnapshot | SnapshotUnavailable, limits: GuardLimits
) -> None:
    decision = evaluate(request, snapshot, limits)
    expected = _expected_reason(request, snapshot, limits)
    assert decision.allowed is (expected is None)
    assert decision.reason == expected
    if not decision.allowed:
        assert decision.reason in TRIP_REASONS and decision.detail


@settings(max_examples=300, deadline=None)
@given(
    request=requests,
    snapshot=snapshots,
    limits=limits_strategy,
    tighter_notional=st.floats(min_value=0.01, max_value=1e7),
    tighter_loss=st.floats(min_value=0.01, max_value=1e7),
    tighter_cap=st.integers(min_value=0, max_value=8),
)
def test_a_tighter_limit_never_turns_a_refusal_into_a_pass(
    request: GuardRequest,
    snapshot: GuardSnapshot,
    limits: GuardLimits,
    tighter_notional: float,
    tighter_loss: float,
    tighter_cap: int,
) -> None:
    def tighter(current: float | None, candidate: float) -> float | None:
        # an unusable limit already refuses everything: nothing is stricter
        if current is None:
            return candidate
        return min(current, candidate) if _usable(current) else current

    cap = limits.max_open_orders
    stricter = GuardLimits(
        notional=tighter(limits.notional, tighter_notional),
        daily_loss=tighter(limits.daily_loss, tighter_loss),
        max_open_orders=tighter_cap if cap is None else (min(cap, tighter_cap) if cap >= 0 else cap),
    )
    # the stricter limits need the whole snapshot; give the parts the looser ones left out
    full = replace(
        snapshot,
        realised_pnl=Decimal(0) if snapshot.realised_pnl is None else snapshot.realised_pnl,
        open_orders=0 if snapshot.open_orders is None else snapshot.open_orders,
    )
    if not evaluate(request, full, limits).allowed:
        assert not evaluate(request, full, stricter).allowed


@settings(max_examples=200, deadline=None)
@given(request=requests, limits=limits_strategy)
def test_snapshot_query_asks_for_what_evaluate_needs(request: GuardRequest, limits: GuardLimits) -> None:
    query = snapshot_query(request, limits, NOW)
    if request.kill_switch_active:
        assert query is None
        return
    assert query is not None and query.now == NOW and query.since == trading_day_start(NOW)
    # a snapshot with only the asked-for parts decides like the complete one
    complete = GuardSnapshot(kill_switch_active=False, open_orders=2, realised_pnl=Decimal("-150"))
    partial = GuardSnapshot(
        kill_switch_active=False,
        open_orders=2 if query.open_orders else None,
        realised_pnl=Decimal("-150") if query.realised_pnl else None,
    )
    assert evaluate(request, partial, limits) == evaluate(request, complete, limits)


class _Store:
    """An in-memory GuardStore: serves one snapshot (or fails) and keeps the trips it records."""

    def __init__(self, snapshot: GuardSnapshot | None, *, audit_fails: bool = False) -> None:
        self.snapshot = snapshot
        self.audit_fails = audit_fails
        self.queries: list[SnapshotQuery] = []
        self.trips: list[tuple[str, str | None]] = []

    def guard_snapshot(self, query: SnapshotQuery) -> GuardSnapshot:
        self.queries.append(query)
        if self.snapshot is None:
            raise ConnectionError("database is down")
        return self.snapshot

    def record_trip(self, reason: str, *, detail: str = "", symbol: str | None = None) -> None:
        if self.audit_fails:
            raise ConnectionError("audit table is gone")
        self.trips.append((reason, symbol))


@settings(max_examples=300, deadline=None)
@given(
    request=requests,
    snapshot=st.one_of(st.none(), snapshots),
    limits=limits_strategy,
    audit_fails=st.booleans(),
)
def test_order_guard_decides_as_evaluate_and_a_lost_audit_row_changes_nothing(
    request: GuardRequest, snapshot: GuardSnapshot | None, limits: GuardLimits, audit_fails: bool
) -> None:
    store = _Store(snapshot, audit_fails=audit_fails)
    decision = OrderGuard(store, limits).check(request, now=NOW)

    query = snapshot_query(request, limits, NOW)
    assert store.queries == ([] if query is None else [query])
    seen: GuardSnapshot | SnapshotUnavailable = (
        snapshot if snapshot is not None else SnapshotUnavailable("ConnectionError: database is down")
    )
    assert decision == evaluate(request, seen, limits)
    if snapshot is None and not request.kill_switch_active:
        assert decision == GuardDecision.tripped(KILL_SWITCH_UNAVAILABLE, "ConnectionError: database is down")
    expected_trips = [] if decision.allowed or audit_fails else [(decision.reason, request.symbol)]
    assert store.trips == expected_trips


def test_evaluate_refuses_a_request_it_cannot_read() -> None:
    odd = GuardRequest(symbol="AAPL", notional="lots")  # type: ignore[arg-type]
    decision = evaluate(odd, GuardSnapshot(kill_switch_active=False), GuardLimits())
    assert (decision.allowed, decision.reason) == (False, KILL_SWITCH_UNAVAILABLE)
    assert "ValueError" in decision.detail
