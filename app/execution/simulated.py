"""An in-process broker that fills market orders at once, for offline runs and tests.

A buy fills at ``market_price * (1 + slippage)``, a sell at ``market_price * (1 - slippage)``;
the commission is a fraction of the filled notional. Orders are remembered per process by
``client_order_id``, so resubmitting an id returns the first report instead of a second fill.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

from app.domain.orders import FillPayload, OrderEvent, OrderSide, OrderStatus, OrderType
from app.errors import OrderRejected
from app.execution.ports import BrokerCapability

__all__ = ["SimulatedBroker", "SimulatedBrokerConfig"]

_QTY_STEP = Decimal("0.000001")
_PRICE_STEP = Decimal("0.0001")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedBrokerConfig:
    slippage_bps: float = 5.0
    commission_bps: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.slippage_bps < 10_000:
            raise ValueError(f"slippage_bps must be in [0, 10000), got {self.slippage_bps}")
        if not 0 <= self.commission_bps < 10_000:
            raise ValueError(f"commission_bps must be in [0, 10000), got {self.commission_bps}")


class SimulatedBroker:
    """Fills every market order immediately at the given price plus slippage."""

    kind = "simulated"
    capabilities = frozenset(
        {
            BrokerCapability.MARKET_ORDERS,
            BrokerCapability.NOTIONAL_ORDERS,
            BrokerCapability.FRACTIONAL_QTY,
            BrokerCapability.SHORT_SELLING,
        }
    )

    def __init__(self, config: SimulatedBrokerConfig | None = None) -> None:
        self.config = config or SimulatedBrokerConfig()
        self._orders: dict[str, OrderEvent] = {}
        self._lock = threading.Lock()

    def submit(self, intent: OrderEvent, *, market_price: Decimal) -> OrderEvent:
        with self._lock:
            known = self._orders.get(intent.client_order_id)
            if known is not None:
                return known
            report = self._fill(intent, market_price)
            self._orders[intent.client_order_id] = report
            return report

    def orders(self) -> list[OrderEvent]:
        """Every report this broker produced, oldest first."""
        with self._lock:
            return list(self._orders.values())

    def close(self) -> None:
        return None

    def _fill(self, intent: OrderEvent, market_price: Decimal) -> OrderEvent:
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
            qty = (intent.notional / price).quantize(_QTY_STEP, rounding=ROUND_DOWN)
        if qty <= 0:
            raise OrderRejected("broker_rejected", f"order size rounds to zero at price {price}")
        fee = (qty * price * Decimal(str(self.config.commission_bps)) / Decimal(10_000)).quantize(_PRICE_STEP)
        now = datetime.now(UTC)
        broker_id = "sim-" + hashlib.sha256(intent.client_order_id.encode()).hexdigest()[:24]
        fill = FillPayload(venue_fill_id=f"{broker_id}-1", qty=qty, price=price, fee=fee, ts=now)
        return intent.model_copy(
            update={"status": OrderStatus.FILLED, "broker_order_id": broker_id, "ts": now, "fills": [fill]}
        )
