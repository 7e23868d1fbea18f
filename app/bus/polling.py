"""The poll loop the pull-based backends (local log, Redis Streams) share."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.bus.ports import Delivered
from app.errors import BusError

__all__ = ["poll_with_backoff"]

_FIRST_SLEEP_S = 0.0005


def poll_with_backoff(
    read: Callable[[int], list[Delivered]],
    rebalance: Callable[[], None],
    next_rebalance: Callable[[], float],
    max_events: int,
    timeout_s: float,
    idle_sleep_max_s: float,
) -> list[Delivered]:
    """Read until something arrives or ``timeout_s`` passes, sleeping with exponential back-off.

    ``rebalance`` runs whenever the monotonic clock reaches ``next_rebalance()``, so partition
    ownership stays current while a consumer waits.
    """
    if max_events < 1:
        raise BusError("max_events must be at least 1")
    deadline = time.monotonic() + timeout_s
    sleep = _FIRST_SLEEP_S
    while True:
        if time.monotonic() >= next_rebalance():
            rebalance()
        batch = read(max_events)
        remaining = deadline - time.monotonic()
        if batch or remaining <= 0:
            return batch
        time.sleep(min(sleep, remaining))
        sleep = min(sleep * 2, idle_sleep_max_s)
