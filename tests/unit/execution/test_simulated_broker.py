"""The simulated broker: fills at the given price with slippage and commission, once per id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.bootstrap import build_broker
from app.config import Settings
from app.domain.orders import OrderEvent, OrderSide, OrderStatus, OrderType
from app.errors import OrderRejected
from app.execution import Broker
from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig


def _intent(side: OrderSide = OrderSide.BUY, **sizing: Decimal) -> OrderEvent:
    values: dict[str, Decimal] = sizing or {"notional": Decimal("1000")}
    return OrderEvent(
        client_order_id=f"sim-{side}", symbol="AAPL", side=side, ts=datetime(2025, 1, 3, tzinfo=UTC), **values
    )


def test_buy_fills_above_and_sell_below_the_price_with_commission() -> None:
    broker = SimulatedBroker(SimulatedBrokerConfig(slippage_bps=10, commission_bps=2))
    buy = broker.submit(_intent(OrderSide.BUY), market_price=Decimal("100"))
    sell = broker.submit(_intent(OrderSide.SELL, qty=Decimal("3")), market_price=Decimal("100"))
    assert buy.status is OrderStatus.FILLED and buy.broker_order_id
    (fill,) = buy.fills
    assert fill.price == Decimal("100.1000")
    assert fill.qty == Decimal("9.990009")  # 1000 / 100.1, rounded down to 1e-6
    assert fill.fee == (fill.qty * fill.price * Decimal("0.0002")).quantize(Decimal("0.0001"))
    assert sell.fills[0].price == Decimal("99.9000") and sell.fills[0].qty == Decimal("3")


def test_same_client_order_id_fills_once() -> None:
    broker = SimulatedBroker()
    first = broker.submit(_intent(), market_price=Decimal("100"))
    again = broker.submit(_intent(), market_price=Decimal("250"))
    assert again == first
    assert len(broker.orders()) == 1


@pytest.mark.parametrize("price", [Decimal("0"), Decimal("-1"), Decimal("NaN")])
def test_unusable_price_is_rejected(price: Decimal) -> None:
    with pytest.raises(OrderRejected, match="market price"):
        SimulatedBroker().submit(_intent(), market_price=price)


def test_limit_orders_are_rejected() -> None:
    intent = _intent().model_copy(update={"type": OrderType.LIMIT, "limit_price": Decimal("99")})
    with pytest.raises(OrderRejected, match="market orders only"):
        SimulatedBroker().submit(intent, market_price=Decimal("100"))


def test_factory_builds_the_configured_simulated_broker(make_settings: Callable[..., Settings]) -> None:
    broker = build_broker(make_settings(SIM_SLIPPAGE_BPS=0, SIM_COMMISSION_BPS=0))
    assert isinstance(broker, Broker) and broker.kind == "simulated"
    report = broker.submit(_intent(), market_price=Decimal("50"))
    assert report.fills[0].price == Decimal("50") and report.fills[0].fee == 0


def test_config_refuses_negative_costs() -> None:
    with pytest.raises(ValueError, match="slippage_bps"):
        SimulatedBrokerConfig(slippage_bps=-1)
