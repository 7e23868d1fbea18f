"""The broker interface every execution backend implements.

A broker takes an order intent (an :class:`~app.domain.orders.OrderEvent` with status ``new``)
and returns the venue's report as another ``OrderEvent``: the same ``client_order_id``, the
venue's ``broker_order_id``, the current status and any ``fills[]``. Submitting the same
``client_order_id`` twice never places a second order; the second call reports the first.

For reconciliation (the broker is the truth) a broker also reports the account's balances,
its open positions and its working orders as domain types (:mod:`app.domain.accounts`).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from app.domain.accounts import BrokerAccount, BrokerPosition, OpenOrder
from app.domain.orders import OrderEvent

__all__ = ["Broker", "BrokerCapability"]


class BrokerCapability(StrEnum):
    MARKET_ORDERS = "market_orders"
    NOTIONAL_ORDERS = "notional_orders"
    FRACTIONAL_QTY = "fractional_qty"
    SHORT_SELLING = "short_selling"
    LIVE_TRADING = "live_trading"


@runtime_checkable
class Broker(Protocol):
    """Places orders at one venue, idempotently by ``client_order_id``."""

    kind: str
    capabilities: frozenset[BrokerCapability]

    def submit(self, intent: OrderEvent, *, market_price: Decimal) -> OrderEvent:
        """Place ``intent`` (or find the order already placed under its ``client_order_id``).

        ``market_price`` is the latest price the caller saw; venues that price the order
        themselves ignore it.

        Raises:
            OrderRejected: the venue refused the order (the reason says why).
            RetryableError: the venue did not answer; retrying with the same id is safe.
        """
        ...

    def find_order(self, client_order_id: str) -> OrderEvent | None:
        """The venue's current report of the order placed under ``client_order_id``, or ``None``
        when the venue has none (asked before re-sending, so a restart never places it twice).

        Raises:
            RetryableError: the venue did not answer.
        """
        ...

    def cancel(self, order: OrderEvent) -> OrderEvent:
        """Cancel ``order`` (found by its ``client_order_id``) if it is still working.

        Returns the venue's report after the request: ``canceled``, or the final status the
        order reached first (a fill can win the race).

        Raises:
            NotFoundError: the venue does not know the order.
            OrderRejected: the venue refused the cancel.
            RetryableError: the venue did not answer.
        """
        ...

    def get_account(self) -> BrokerAccount:
        """The account's cash, equity and buying power as the venue reports them now.

        Raises:
            RetryableError: the venue did not answer.
        """
        ...

    def list_positions(self) -> list[BrokerPosition]:
        """Every open position (signed quantity, average entry price), by symbol.

        Raises:
            RetryableError: the venue did not answer.
        """
        ...

    def list_open_orders(self) -> list[OpenOrder]:
        """Every order still working at the venue (new, accepted or partially filled).

        Raises:
            RetryableError: the venue did not answer.
        """
        ...

    def close(self) -> None: ...
