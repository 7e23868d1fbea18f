"""What a venue with an order-update stream offers the venue-updates worker.

A :class:`VenueFeed` opens a :class:`StreamConnection` (connected, authenticated and
listening to its order updates) and, after every (re)connect, answers a catch-up: every
order that changed since a moment, with the executions it had since then, as
:class:`~app.domain.orders.OrderEvent` reports. Frames arrive as decoded JSON objects; the
feed turns each one into a :class:`VenueUpdate` (or ``None`` for control frames).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from app.domain.orders import OrderEvent
from app.errors import RetryableError

__all__ = ["CatchUp", "StreamConnection", "StreamLost", "StreamSilent", "VenueFeed", "VenueUpdate"]


class StreamLost(RetryableError):
    """The stream connection failed, closed or went silent; reconnecting may help."""


class StreamSilent(StreamLost):
    """The connection is open but nothing answers: no frame and no pong in time."""


@dataclass(frozen=True, slots=True)
class VenueUpdate:
    """One order update from the venue's stream.

    ``event`` is the venue's event name (``new``, ``partial_fill``, ``fill``, ``canceled``,
    ``expired``, ``rejected``, ``replaced`` ...); ``order`` is the order as it stands after the
    event, with this event's execution (if any) in ``fills``; ``execution_id`` is the venue's
    id of that execution; ``filled_qty`` the order's cumulative filled quantity after it.
    """

    event: str
    at: datetime
    order: OrderEvent
    execution_id: str | None = None
    filled_qty: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CatchUp:
    """The venue's answer to "what changed since ...": reports oldest update first.

    ``incomplete`` names (by venue order id) the orders whose reported filled quantity is
    larger than the executions the venue listed (its execution feed lags its order state);
    asking again later fills the gap.
    """

    reports: list[OrderEvent]
    incomplete: frozenset[str] = frozenset()
    filled_qty: Mapping[str, Decimal] = field(default_factory=dict)
    """Each reported order's cumulative filled quantity, by venue order id."""


class StreamConnection(Protocol):
    async def receive(self, timeout_s: float) -> Mapping[str, Any] | None:
        """The next decoded frame, or ``None`` when none came within ``timeout_s``.

        Raises:
            StreamLost: the connection closed or failed.
        """
        ...

    async def ping(self, timeout_s: float) -> float:
        """Ping the server; return the round trip in seconds.

        Raises:
            StreamSilent: no answer within ``timeout_s``.
            StreamLost: the connection failed.
        """
        ...

    async def close(self) -> None:
        """Close with the protocol's handshake."""
        ...

    def abort(self) -> None:
        """Drop the connection at once (it stopped answering: no handshake to wait for)."""
        ...


class VenueFeed(Protocol):
    """One venue's order-update stream and its REST catch-up."""

    name: str
    """The account label events are recorded under (``alpaca-paper``, ``alpaca-live``)."""

    async def connect(self, timeout_s: float) -> StreamConnection:
        """Open, authenticate and subscribe.

        Raises:
            StreamLost: the venue could not be reached or dropped the connection.
            ConfigError: the venue refused the credentials (retrying cannot help).
        """
        ...

    def parse(self, frame: Mapping[str, Any]) -> VenueUpdate | None:
        """A stream frame as an update; ``None`` for frames that carry no order update.

        Raises:
            OrderRejected: (reason ``broker_protocol``) a malformed order update.
        """
        ...

    def catch_up(self, since: datetime, watch: Collection[str]) -> CatchUp:
        """Orders updated since ``since`` plus every order in ``watch`` (venue order ids) and
        every open order, with their executions since ``since``. Blocking (REST).

        Raises:
            RetryableError: the venue did not answer.
            OrderRejected: the venue refused the request or answered malformed data.
        """
        ...

    def close(self) -> None: ...
