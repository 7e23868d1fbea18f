"""When an order's time in force runs out, on fixed dates of the XNYS calendar.

2026-11-26 is Thanksgiving (closed), 2026-11-27 closes early at 13:00 New York, 2026-11-01
ends daylight saving time (the close moves from 20:00 to 21:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.errors import InputError
from app.workers.time_in_force import expires_at, session_of


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2026-11-25T15:00", "2026-11-25T21:00"),  # during the session: today's close
        ("2026-11-25T12:00", "2026-11-25T21:00"),  # before the open: today's close
        ("2026-11-25T21:00", "2026-11-27T18:00"),  # at the close: the next session (holiday skipped)
        ("2026-11-26T15:00", "2026-11-27T18:00"),  # on Thanksgiving: the early close next day
        ("2026-11-27T17:59", "2026-11-27T18:00"),  # early-close day, one minute before 13:00 ET
        ("2026-11-27T19:00", "2026-11-30T21:00"),  # after the early close, over the weekend
        ("2026-10-30T19:30", "2026-10-30T20:00"),  # summer time: the close is 20:00 UTC
        ("2026-10-31T15:00", "2026-11-02T21:00"),  # Saturday, across the DST change
    ],
)
def test_day_orders_expire_at_the_close_of_their_session(created: str, expected: str) -> None:
    assert expires_at("day", utc(created)) == utc(expected)
    assert expires_at("cls", utc(created)) == utc(expected)


def test_opening_orders_expire_at_the_open_and_immediate_ones_at_once() -> None:
    assert expires_at("opg", utc("2026-11-27T12:00")) == utc("2026-11-27T14:30")
    assert expires_at("opg", utc("2026-11-27T19:00")) == utc("2026-11-30T14:30")
    created = utc("2026-11-25T15:00")
    assert expires_at("ioc", created) == created
    assert expires_at("FOK", created) == created


def test_good_till_cancelled_never_expires_and_unknown_values_count_as_day() -> None:
    assert expires_at("gtc", utc("2026-11-25T15:00")) is None
    assert expires_at("gtd", utc("2026-11-25T15:00")) == utc("2026-11-25T21:00")


def test_the_session_of_an_order_and_bad_times() -> None:
    assert str(session_of(utc("2026-11-26T15:00"))) == "2026-11-27"
    with pytest.raises(InputError, match="no time zone"):
        expires_at("day", datetime(2026, 11, 25, 15))
    with pytest.raises(InputError, match="no time zone"):
        expires_at("ioc", datetime(2026, 11, 25, 15))
    with pytest.raises(InputError, match="range"):
        expires_at("day", utc("1850-01-02T15:00"))
