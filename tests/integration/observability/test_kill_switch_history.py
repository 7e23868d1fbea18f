"""``KillSwitchRepository.history`` on SQLite and PostgreSQL."""

from __future__ import annotations

from app.storage.db import Database
from app.storage.repositories.kill_switch import KillSwitchRepository


def test_history_is_newest_first_and_limited(database: Database) -> None:
    store = KillSwitchRepository(database)
    for n in range(3):
        store.set(n % 2 == 0, reason=f"change {n}", actor="ops")
        store.record_trip("kill_switch_active", detail=f"trip {n}", symbol="AAPL")
    events = store.history(limit=4)
    assert [(e.kind, e.detail) for e in events] == [
        ("trip", "trip 2"),
        ("set", "change 2"),
        ("trip", "trip 1"),
        ("set", "change 1"),
    ]
    assert all(e.ts.tzinfo is not None for e in events)
    assert len(store.history(limit=100)) == 6
