"""How far behind the order book is, from the order consumer's last status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.bus.consumer_lag import ConsumerStatus, book_age

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


def status(state: str, *, lag: float = 0.0, behind: int = 0, reported_s_ago: float = 1.0) -> ConsumerStatus:
    return ConsumerStatus(
        name="order-consumer",
        hub="exec.orders",
        group="g",
        state=state,
        lag_seconds=lag,
        events_behind=behind,
        events=10,
        dead_lettered=0,
        heartbeat_s=5.0,
        updated_at=(NOW - timedelta(seconds=reported_s_ago)).isoformat(),
        host="h",
        pid=1,
    )


def test_no_status_and_a_clean_stop_mean_the_book_is_current() -> None:
    assert book_age(None, NOW) is None
    assert book_age(status("stopped", reported_s_ago=600), NOW) is None


def test_a_running_consumer_is_behind_by_its_lag_or_by_its_silence() -> None:
    assert book_age(status("running", lag=12.5), NOW) == 12.5
    assert book_age(status("running", lag=1.0, reported_s_ago=300), NOW) == 300


def test_a_consumer_that_stopped_with_events_behind_is_behind_since_its_last_report() -> None:
    assert book_age(status("stopped", behind=40, reported_s_ago=90), NOW) == 90
