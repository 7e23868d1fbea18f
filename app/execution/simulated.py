"""A paper account that fills market orders at once: cash, positions, buying power.

Fills: a buy fills at ``market_price * (1 + slippage)``, a sell at ``market_price * (1 -
slippage)`` (``market_price`` is the caller's latest bar close); the fee is
``commission_bps`` of the filled notional plus ``fee_per_order``. The account's positions and
cash are an :class:`~app.portfolio.PositionBook`, updated by every fill.

Refusals (:class:`~app.errors.OrderRejected`, nothing filled, nothing remembered):

* ``insufficient_position`` - a sell larger than the long position while shorting is off;
* ``insufficient_buying_power`` - an order that adds exposure would leave buying power below
  zero. Buying power is ``equity - gross exposure`` (no leverage): a long-only account can
  spend its cash; a short's proceeds are held against it. Orders that only reduce a position
  are always accepted;
* ``broker_rejected`` - not a market order, no usable price, or a size that rounds to zero.

Orders are remembered by ``client_order_id``: resubmitting an id returns the first report.
The whole state (book, orders, last prices) is a :class:`SimulatedAccountState` kept by a
:class:`~app.portfolio.paper.PaperAccountStore`: in this process's memory by default (unit
tests), in the database when the composition root wires
:class:`~app.storage.repositories.simulated_account.SimulatedAccountRepository`, so the API,
the CLI, the scheduler and the order consumer all see one paper account. A submit is one
store transaction: the lookup by ``client_order_id``, the checks and the fill, so two
processes submitting at once can neither overspend the buying power nor sell what is not held.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from app.domain.accounts import BrokerAccount, BrokerPosition, OpenOrder
from app.domain.clock import Clock, wall_clock
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus, OrderType
from app.errors import NotFoundError, OrderRejected
from app.execution.ports import BrokerCapability
from app.portfolio import BookFill, Position, PositionBook, money
from app.portfolio.paper import PaperAccountState, PaperAccountStore
from app.risk.sizing import QTY_STEP, quantity_for_notional

__all__ = ["InMemoryAccountStore", "SimulatedAccountState", "SimulatedBroker", "SimulatedBrokerConfig"]

_QTY_STEP = QTY_STEP
_PRICE_STEP = Decimal("0.0001")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedBrokerConfig:
    slippage_bps: float = 5.0
    commission_bps: float = 1.0
    fee_per_order: Decimal = _ZERO
    allow_short: bool = False
    initial_cash: Decimal = Decimal(100_000)
    account: str = "simulated"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slippage_bps) and 0 <= self.slippage_bps < 10_000):
            raise ValueError(f"slippage_bps must be in [0, 10000), got {self.slippage_bps}")
        if not (math.isfinite(self.commission_bps) and 0 <= self.commission_bps < 10_000):
            raise ValueError(f"commission_bps must be in [0, 10000), got {self.commission_bps}")
        if not self.fee_per_order.is_finite() or self.fee_per_order < 0:
            raise ValueError(f"fee_per_order must be a finite amount >= 0, got {self.fee_per_order}")
        if not self.initial_cash.is_finite() or self.initial_cash <= 0:
            raise ValueError(f"initial_cash must be a finite amount > 0, got {self.initial_cash}")
        if not self.account:
            raise ValueError("account must not be empty")


SimulatedAccountState = PaperAccountState
"""The paper account's state (book, order reports, last prices); see :mod:`app.portfolio.paper`."""


class InMemoryAccountStore:
    """A paper account kept in this process (unit tests, benchmarks): one lock, changes in place.

    The broker changes the state only after every check has passed, so a refused order
    leaves it untouched even without a rollback.
    """

    def __init__(self, state: PaperAccountState) -> None:
        self.state = state
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self, order_ids: Collection[str] = ()) -> Iterator[PaperAccountState]:
        del order_ids  # every report is in memory already
        with self._lock:
            yield self.state

    def read(self) -> PaperAccountState:
        with self._lock:
            book = self.state.book
            copy = PositionBook(positions=dict(book.positions), cash=dict(book.cash))
            return PaperAccountState(book=copy, last_prices=dict(self.state.last_prices))

    def find_order(self, client_order_id: str) -> OrderEvent | None:
        with self._lock:
            return self.state.orders.get(client_order_id)

    def orders(self) -> list[OrderEvent]:
        with self._lock:
            return list(self.state.orders.values())


class SimulatedBroker:
    """A paper account that fills every accepted market order immediately.

    Orders and fills are stamped with ``clock``: the platform's clock the composition root
    gives it (a replayed day's fills carry the replayed time), the wall clock by default.
    """

    kind = "simulated"

    def __init__(
        self,
        config: SimulatedBrokerConfig | None = None,
        *,
        state: SimulatedAccountState | None = None,
        store: PaperAccountStore | None = None,
        clock: Clock = wall_clock,
    ) -> None:
        self.config = config or SimulatedBrokerConfig()
        capabilities = {
            BrokerCapability.MARKET_ORDERS,
            BrokerCapability.NOTIONAL_ORDERS,
            BrokerCapability.FRACTIONAL_QTY,
        }
        if self.config.allow_short:
            capabilities.add(BrokerCapability.SHORT_SELLING)
        self.capabilities = frozenset(capabilities)
        if state is not None and store is not None:
            raise ValueError("give the simulated broker a state or a store, not both")
        self.store: PaperAccountStore = store or InMemoryAccountStore(
            state or SimulatedAccountState.opening(self.config.account, self.config.initial_cash)
        )
        self._clock = clock

    @property
    def account(self) -> str:
        return self.config.account

    @property
    def state(self) -> SimulatedAccountState:
        """The account's state: the live one when kept in memory, else a copy of the book and
        last prices as stored now."""
        if isinstance(self.store, InMemoryAccountStore):
            return self.store.state
        return self.store.read()

    def submit(self, intent: OrderEvent, *, market_price: Decimal) -> OrderEvent:
        with self.store.transaction((intent.client_order_id,)) as state:
            known = state.orders.get(intent.client_order_id)
            if known is not None:
                return known
            report = self._fill(state, intent, market_price)
            state.orders[intent.client_order_id] = report
            return report

    def find_order(self, client_order_id: str) -> OrderEvent | None:
        """The report of the order placed under ``client_order_id``, or ``None``."""
        return self.store.find_order(client_order_id)

    def cancel(self, order: OrderEvent) -> OrderEvent:
        """The order's report: nothing is ever working here, so a known order keeps its final status.

        Raises:
            NotFoundError: this account never received ``order``.
        """
        known = self.store.find_order(order.client_order_id)
        if known is None:
            raise NotFoundError(f"the simulated broker has no order {order.client_order_id}")
        return known

    def mark(self, prices: Mapping[str, Decimal]) -> None:
        """Record the latest prices (finite and positive ones only) used to value positions."""
        usable = {s: p for s, p in prices.items() if p.is_finite() and p > 0}
        if not usable:
            return
        with self.store.transaction() as state:
            state.last_prices.update(usable)

    def get_account(self) -> BrokerAccount:
        state = self.store.read()
        cash = state.book.cash_of(self.account)
        long_value = short_value = _ZERO
        for position in state.book.open_positions(self.account):
            value = position.market_value(_price_of(state, position))
            if value >= 0:
                long_value += value
            else:
                short_value += value
        equity = cash + long_value + short_value
        return BrokerAccount(
            account_id=self.account,
            cash=cash,
            equity=equity,
            buying_power=max(equity - long_value + short_value, _ZERO),
            long_market_value=long_value,
            short_market_value=short_value,
            shorting_enabled=self.config.allow_short,
        )

    def list_positions(self) -> list[BrokerPosition]:
        state = self.store.read()
        out = []
        for position in state.book.open_positions(self.account):
            price = _price_of(state, position)
            out.append(
                BrokerPosition(
                    symbol=position.symbol,
                    quantity=position.quantity,
                    average_entry_price=position.average_cost,
                    current_price=price,
                    market_value=position.market_value(price),
                    unrealized_pl=position.unrealised_pnl(price),
                )
            )
        return out

    def list_open_orders(self) -> list[OpenOrder]:
        """Always empty: every accepted order fills in full at once."""
        return []

    def orders(self) -> list[OrderEvent]:
        """Every report this account produced, oldest first."""
        return self.store.orders()

    def close(self) -> None:
        return None

    def _fill(self, state: SimulatedAccountState, intent: OrderEvent, market_price: Decimal) -> OrderEvent:
        if intent.type is not OrderType.MARKET:
            raise OrderRejected(
                "broker_rejected", f"simulated broker fills market orders only, got {intent.type}"
            )
        if not market_price.is_finite() or market_price <= 0:
            raise OrderRejected("broker_rejected", f"no usable market price ({market_price})")
        slip = Decimal(str(self.config.slippage_bps)) / Decimal(10_000)
        factor = 1 + slip if intent.side is OrderSide.BUY else 1 - slip
        price = (market_price * factor).quantize(_PRICE_STEP)
        if intent.qty is not None:
            qty = intent.qty
        else:
            assert intent.notional is not None  # OrderEvent requires qty or notional
            qty = quantity_for_notional(intent.notional, price, _QTY_STEP)
        if qty <= 0:
            raise OrderRejected("broker_rejected", f"order size rounds to zero at price {price}")
        commission = qty * price * Decimal(str(self.config.commission_bps)) / Decimal(10_000)
        fee = (commission + self.config.fee_per_order).quantize(_PRICE_STEP)
        now = self._clock()
        broker_id = "sim-" + hashlib.sha256(intent.client_order_id.encode()).hexdigest()[:24]
        fill = FillPayload(venue_fill_id=f"{broker_id}-1", qty=qty, price=price, fee=fee, ts=now)
        book_fill = BookFill.from_report(self.account, intent, fill)
        state.last_prices[intent.symbol] = market_price
        self._check(state, book_fill)
        state.book.apply_fill(book_fill)
        return intent.model_copy(
            update={"status": OrderStatus.FILLED, "broker_order_id": broker_id, "ts": now, "fills": [fill]}
        )

    def _check(self, state: SimulatedAccountState, fill: BookFill) -> None:
        book = state.book
        current = book.position(self.account, fill.symbol)
        held = current.quantity
        if fill.side is OrderSide.SELL and not self.config.allow_short and fill.quantity > max(held, _ZERO):
            raise OrderRejected(
                "insufficient_position",
                f"sell {fill.quantity} {fill.symbol} refused: the account holds {held} and shorting is off "
                "(SIM_ALLOW_SHORT)",
            )
        opening = fill.quantity - (max(-held, _ZERO) if fill.side is OrderSide.BUY else max(held, _ZERO))
        if opening <= 0:
            return  # only reduces a position
        positions = {p.symbol: p for p in book.open_positions(self.account)}
        before = _buying_power(state, positions, book.cash_of(self.account))
        outcome = current.apply(fill)
        positions[fill.symbol] = outcome.position
        after = _buying_power(state, positions, book.cash_of(self.account) + outcome.cash_delta)
        if after < 0:
            raise OrderRejected(
                "insufficient_buying_power",
                f"{fill.side} {fill.quantity} {fill.symbol} at {fill.price} needs {money(before - after)} of "
                f"buying power (fees included); the account has {money(before)}",
            )


def _price_of(state: SimulatedAccountState, position: Position) -> Decimal:
    return state.last_prices.get(position.symbol) or position.average_cost


def _buying_power(state: SimulatedAccountState, positions: Mapping[str, Position], cash: Decimal) -> Decimal:
    # equity - gross exposure == cash - 2 x |short market value|
    shorts = sum((-p.market_value(_price_of(state, p)) for p in positions.values() if p.quantity < 0), _ZERO)
    return cash - 2 * shorts
