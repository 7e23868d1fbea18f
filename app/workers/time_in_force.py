"""When an order's time in force runs out, on the NYSE (XNYS) session calendar.

An order that is still open after this moment can no longer trade: a venue with a stream
(Alpaca) reports the expiry itself; for orders no venue holds (intents published with
``execute_orders=false``, or the simulated broker, which has no order book) the venue-updates
sweep publishes the ``expired`` status so they stop counting as open.

The rules, in exchange time (``America/New_York``), with early closes from the calendar:

* ``day`` and ``cls``: the close of the session the order belongs to: today's session when
  it was created before today's close, otherwise the next session (a day order placed after
  the close or on a holiday waits for the next session, as Alpaca queues it);
* ``opg``: the open of that same session (a market-on-open order that missed the open is
  cancelled);
* ``ioc`` and ``fok``: the moment the order was created (they never rest);
* ``gtc``: never (``None``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from app.errors import InputError
from app.workers.schedule import EXCHANGE_ZONE, is_session, session_hours

__all__ = ["KNOWN_TIME_IN_FORCE", "expires_at", "session_of"]

KNOWN_TIME_IN_FORCE = frozenset({"day", "cls", "opg", "ioc", "fok", "gtc"})

_MAX_SEARCH_DAYS = 14  # the longest NYSE closure on record is far shorter


def session_of(moment: datetime) -> date:
    """The session an order created at ``moment`` belongs to (see the module rules).

    Raises:
        InputError: ``moment`` is naive, or no session follows within the calendar's range.
    """
    if moment.tzinfo is None:
        raise InputError(f"order time {moment.isoformat()} has no time zone")
    local = moment.astimezone(EXCHANGE_ZONE)
    day = local.date()
    for _ in range(_MAX_SEARCH_DAYS):
        if is_session(day) and local < session_hours(day)[1]:
            return day
        day += timedelta(days=1)
        local = max(local, datetime.combine(day, datetime.min.time(), EXCHANGE_ZONE))
    raise InputError(f"no NYSE session within {_MAX_SEARCH_DAYS} days of {moment.isoformat()}")


def expires_at(time_in_force: str, created_at: datetime) -> datetime | None:
    """When an order of ``time_in_force`` created at ``created_at`` stops being able to trade.

    ``None`` for ``gtc``. A time in force this module does not know is treated as ``day``
    (the shortest resting life), so an unknown value never keeps an order open forever.

    Raises:
        InputError: ``created_at`` is naive or outside the exchange calendar's range.
    """
    tif = time_in_force.strip().lower()
    if tif == "gtc":
        return None
    if tif in ("ioc", "fok"):
        if created_at.tzinfo is None:
            raise InputError(f"order time {created_at.isoformat()} has no time zone")
        return created_at
    open_at, close_at = session_hours(session_of(created_at))
    return open_at if tif == "opg" else close_at
