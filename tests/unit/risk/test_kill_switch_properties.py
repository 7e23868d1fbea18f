"""Property tests: the guard allows an order only when every check ran and passed."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.risk.guard import GuardLimits, GuardRequest, OrderGuard
from app.risk.kill_switch import KILL_SWITCH_UNAVAILABLE, TRIP_REASONS
from app.storage.db import Database
from app.storage.models import Order
from app.storage.repositories.guard import GuardRepository
from app.storage.repositories.kill_switch import KillSwitchRepository

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
OPEN_ORDERS = 3


def _seed(path: Path, switch_on: bool) -> Database:
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.transaction() as session:
        for i in range(OPEN_ORDERS):
            session.add(
                Order(client_order_id=f"o{i}", symbol="AAPL", side="buy", qty=Decimal(1), status="new")
            )
    if switch_on:
        KillSwitchRepository(db).set(True, reason="property test", actor="tests")
    return db


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Database]]:
    root = tmp_path_factory.mktemp("guard")
    dbs = {
        "off": _seed(root / "off.db", switch_on=False),
        "on": _seed(root / "on.db", switch_on=True),
        "unmigrated": Database(f"sqlite:///{root / 'empty.db'}"),
    }
    yield dbs
    for db in dbs.values():
        db.dispose()


limit_values = st.one_of(
    st.none(),
    st.floats(min_value=0.01, max_value=1e7),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf]),
)
notionals = st.one_of(st.floats(min_value=0, max_value=2e7), st.sampled_from([math.nan, math.inf, -1.0]))


def _valid(limit: float | None) -> bool:
    return limit is None or (math.isfinite(limit) and limit > 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(["off", "on", "unmigrated"]),
    request_active=st.booleans(),
    request_limit=limit_values,
    configured_limit=limit_values,
    max_open=st.one_of(st.none(), st.integers(min_value=-2, max_value=6)),
    notional=notionals,
)
def test_guard_never_allows_a_tripped_or_undecidable_order(
    databases: dict[str, Database],
    which: str,
    request_active: bool,
    request_limit: float | None,
    configured_limit: float | None,
    max_open: int | None,
    notional: float,
) -> None:
    guard = OrderGuard(
        GuardRepository(databases[which]), GuardLimits(notional=configured_limit, max_open_orders=max_open)
    )
    request = GuardRequest(
        symbol="AAPL",
        notional=notional,
        kill_switch_active=request_active,
        kill_switch_notional=request_limit,
    )
    decision = guard.check(request, now=NOW)

    must_refuse = (
        request_active
        or which != "off"
        or not (math.isfinite(notional) and notional >= 0)
        or not _valid(request_limit)
        or not _valid(configured_limit)
        or any(limit is not None and notional > limit for limit in (request_limit, configured_limit))
        or (max_open is not None and (max_open < 0 or max_open <= OPEN_ORDERS))
    )
    assert decision.allowed is not must_refuse
    if not decision.allowed:
        assert decision.reason in TRIP_REASONS
    if which == "unmigrated" and not request_active:
        assert decision.reason == KILL_SWITCH_UNAVAILABLE
