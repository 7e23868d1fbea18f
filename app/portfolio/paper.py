"""The state of a paper account and the store that keeps it: pure values and a port.

A paper account (the simulated broker) is its book (positions and cash), the reports of the
orders it filled by ``client_order_id`` and the latest price it saw per symbol. The broker
reads and changes it only through a :class:`PaperAccountStore`, which gives one caller at a
time the state and keeps what that caller changed, so an in-memory account (unit tests) and a
stored one (every process of a deployment sharing it) behave alike.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from app.domain.orders import OrderEvent
from app.portfolio.book import PositionBook, money

__all__ = ["PaperAccountState", "PaperAccountStore"]


@dataclass(slots=True)
class PaperAccountState:
    """Everything the paper account knows: its book (positions and cash), its order reports by
    ``client_order_id`` and the latest price it saw per symbol (used to mark positions).

    A stored account loads only the orders a caller asks for (see
    :meth:`PaperAccountStore.transaction`); the in-memory one holds them all.
    """

    book: PositionBook
    orders: dict[str, OrderEvent] = field(default_factory=dict)
    last_prices: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def opening(cls, account: str, cash: Decimal) -> PaperAccountState:
        """A fresh account holding only ``cash``."""
        return cls(book=PositionBook.of(cash={account: money(cash)}))


class PaperAccountStore(Protocol):
    """Where a paper account's state lives."""

    def transaction(self, order_ids: Collection[str] = ()) -> AbstractContextManager[PaperAccountState]:
        """The account's state for one caller at a time, with the reports of ``order_ids`` it
        has loaded into ``orders``; what the caller changes is kept when the block ends without
        an error and discarded when it raises.

        Raises:
            RetryableError: the store did not answer (nothing changed).
        """
        ...

    def read(self) -> PaperAccountState:
        """A consistent copy of the book and the last prices (``orders`` left empty).

        Raises:
            RetryableError: the store did not answer.
        """
        ...

    def find_order(self, client_order_id: str) -> OrderEvent | None:
        """The report of the order placed under ``client_order_id``, or ``None``."""
        ...

    def orders(self) -> list[OrderEvent]:
        """Every report, oldest first."""
        ...
