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
The whole state (book, orders, last prices) is a :class:`SimulatedAccountState` the caller
may inject, so it can be stored and restored; by default it lives in this process only.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from app.domain.accounts import BrokerAccount, BrokerPosition, OpenOrder
from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus, OrderType
from app.errors import NotFoundError, OrderRejected
from app.execution.ports import BrokerCapability
from app.portfolio import BookFill, Position, PositionBook, money
from app.risk.sizing import QTY_STEP, quantity_for_notional

__all__ = ["SimulatedAccountState", "SimulatedBroker", "SimulatedBrokerConfig"]

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


@dataclass(slots=True)
class SimulatedAccountState:
    """Everything the paper account knows: its book (positions and cash), its order reports by
    ``client_order_id`` and the latest price it saw per symbol (used to mark positions)."""

    book: PositionBook
    orders: dict[str, OrderEvent] = field(default_factory=dict)
    last_prices: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def opening(cls, account: str, cash: Decimal) -> SimulatedAccountState:
        """A fresh account holding only ``cash``."""
        return cls(book=PositionBook.of(cash={account: money(cash)}))


class SimulatedBroker:
    """A paper account that fills every accepted market order immediately."""

    kind = "simulated"

    def __init__(
        self,
        config: SimulatedBrokerConfig | None = None,
        *,
        state: SimulatedAccountState | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
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
        self.state = state or SimulatedAccountState.opening(self.config.account, self.config.initial_cash)
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def account(self) -> str:
        return self.config.account

    def submit(self, intent: OrderEvent, *, market_price: Decimal) -> OrderEvent:
        with self._lock:
            known = self.state.orders.get(intent.client_order_id)
            if known is not None:
                return known
            report = self._fill(intent, market_price)
            self.state.orders[intent.client_order_id] = report
            return report

    def find_order(self, client_order_id: str) -> OrderEvent | None:
        with self._lock:
            return self.state.orders.get(client_order_id)

    def cancel(self, order: OrderEvent) -> OrderEvent:
        """The order's report: nothing is ever working here, so a known order keeps its final status.

        Raises:
            NotFoundError: this account never received ``order``.
        """
        with self._lock:
            known = self.state.orders.get(order.client_order_id)
        if known is None:
            raise NotFoundError(f"the simulated broker has no order {order.client_order_id}")
        return known

    def mark(self, prices: Mapping[str, Decimal]) -> None:
        """Record the latest prices (finite and positive ones only) used to value positions."""
        with self._lock:
            for symbol, price in prices.items():
                if price.is_finite() and price > 0:
                    self.state.last_prices[symbol] = price

    def get_account(self) -> BrokerAccount:
        with self._lock:
            cash = self.state.book.cash_of(self.account)
            long_value = short_value = _ZERO
            for position in self.state.book.open_positions(self.account):
                value = position.market_value(self._price_of(position))
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
        with self._lock:
            out = []
            for position in self.state.book.open_positions(self.account):
                price = self._price_of(position)
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
        """Every report this broker produced, oldest first."""
        with self._lock:
            return list(self.state.orders.values())

    def close(self) -> None:
        return None

    def _price_of(self, position: Position) -> Decimal:
        return self.state.last_prices.get(position.symbol) or position.average_cost

    def _buying_power(self, positions: Mapping[str, Position], cash: Decimal) -> Decimal:
        # equity - gross exposure == cash - 2 x |short market value|
        shorts = sum(
            (-p.market_value(self._price_of(p)) for p in positions.values() if p.quantity < 0), _ZERO
        )
        return cash - 2 * shorts

    def _fill(self, intent: OrderEvent, market_price: Decimal) -> OrderEvent:
        if intent.type is not OrderType.MARKET:
            raise OrderRejected(
                "broker_rejected", f"simulated broker fills market orders only, got {intent.type}"
            )
        if not market_price.is_finite() or market_price <= 0:
            raise OrderRejected("broker_rejected", f"no usable market price ({market_price})")
        self.state.last_prices[intent.symbol] = market_price
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
        self._check(book_fill)
        self.state.book.apply_fill(book_fill)
        return intent.model_copy(
            update={"status": OrderStatus.FILLED, "broker_order_id": broker_id, "ts": now, "fills": [fill]}
        )

    def _check(self, fill: BookFill) -> None:
        book = self.state.book
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
        before = self._buying_power(positions, book.cash_of(self.account))
        outcome = current.apply(fill)
        positions[fill.symbol] = outcome.position
        after = self._buying_power(positions, book.cash_of(self.account) + outcome.cash_delta)
        if after < 0:
            raise OrderRejected(
                "insufficient_buying_power",
                f"{fill.side} {fill.quantity} {fill.symbol} at {fill.price} needs {money(before - after)} of "
                f"buying power (fees included); the account has {money(before)}",
            )
