"""The simulated broker: fills at the given price with slippage and commission, once per id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.bootstrap import Container, build_broker, build_simulated_broker_config
from app.config import Settings
from app.domain.clock import set_clock_file
from app.domain.orders import OrderEvent, OrderSide, OrderStatus, OrderType
from app.errors import OrderRejected
from app.execution import Broker, BrokerCapability
from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig
from app.risk.guard import GuardRequest
from app.storage.models import OrderReservation


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


# --- the paper account --------------------------------------------------------------------

T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def _order(coid: str, side: OrderSide, qty: str, symbol: str = "AAPL") -> OrderEvent:
    return OrderEvent(client_order_id=coid, symbol=symbol, side=side, qty=Decimal(qty), ts=T0)


def _paper(**config: object) -> SimulatedBroker:
    values: dict[str, object] = {"slippage_bps": 0, "commission_bps": 0} | config
    return SimulatedBroker(SimulatedBrokerConfig(**values), clock=lambda: T0)  # type: ignore[arg-type]


def test_fills_move_cash_and_positions_and_the_account_reports_them() -> None:
    broker = _paper(initial_cash=Decimal("10000"), commission_bps=10, fee_per_order=Decimal("1"))
    report = broker.submit(_order("b1", OrderSide.BUY, "20"), market_price=Decimal("100"))
    assert report.fills[0].fee == Decimal("3")  # 10 bp of 2000, plus 1 per order
    broker.mark({"AAPL": Decimal("110")})
    account = broker.get_account()
    assert account.cash == Decimal("7997") and account.long_market_value == Decimal("2200")
    assert account.equity == Decimal("10197") and account.buying_power == Decimal("7997")
    (position,) = broker.list_positions()
    assert (position.symbol, position.quantity, position.average_entry_price) == ("AAPL", 20, 100)
    assert position.unrealized_pl == Decimal("200") and broker.list_open_orders() == []


def test_a_sell_beyond_the_holding_is_refused_without_shorting() -> None:
    broker = _paper()
    broker.submit(_order("b1", OrderSide.BUY, "10"), market_price=Decimal("50"))
    with pytest.raises(OrderRejected, match="holds 10 and shorting is off") as refused:
        broker.submit(_order("s1", OrderSide.SELL, "15"), market_price=Decimal("50"))
    assert refused.value.reason == "insufficient_position"
    with pytest.raises(OrderRejected, match="insufficient_position"):
        broker.submit(_order("s2", OrderSide.SELL, "1", symbol="MSFT"), market_price=Decimal("50"))
    assert [o.client_order_id for o in broker.orders()] == ["b1"]  # refusals leave no order
    closing = broker.submit(_order("s3", OrderSide.SELL, "10"), market_price=Decimal("55"))
    assert closing.status is OrderStatus.FILLED and broker.list_positions() == []
    assert broker.get_account().cash == Decimal("100050")


def test_a_buy_beyond_buying_power_is_refused_with_the_amounts() -> None:
    broker = _paper(initial_cash=Decimal("1000"), fee_per_order=Decimal("1"))
    with pytest.raises(OrderRejected, match=r"needs 1001\.0000000000 .* has 1000\.0000000000") as refused:
        broker.submit(_order("b1", OrderSide.BUY, "10"), market_price=Decimal("100"))
    assert refused.value.reason == "insufficient_buying_power"
    assert broker.submit(_order("b2", OrderSide.BUY, "9"), market_price=Decimal("100")).fills
    assert broker.get_account().cash == Decimal("99")


def test_with_shorting_a_sell_flips_and_short_proceeds_are_held_against_the_short() -> None:
    broker = _paper(initial_cash=Decimal("1000"), allow_short=True)
    assert BrokerCapability.SHORT_SELLING in broker.capabilities
    broker.submit(_order("b1", OrderSide.BUY, "4"), market_price=Decimal("100"))
    broker.submit(_order("s1", OrderSide.SELL, "9"), market_price=Decimal("100"))  # long 4 -> short 5
    account = broker.get_account()
    assert broker.list_positions()[0].quantity == Decimal("-5")
    assert account.cash == Decimal("1500") and account.equity == Decimal("1000")
    assert account.buying_power == Decimal("500")
    with pytest.raises(OrderRejected, match="insufficient_buying_power"):
        broker.submit(_order("s2", OrderSide.SELL, "6"), market_price=Decimal("100"))
    covered = broker.submit(_order("b2", OrderSide.BUY, "5"), market_price=Decimal("90"))
    assert covered.status is OrderStatus.FILLED and broker.get_account().cash == Decimal("1050")


def test_the_account_state_is_injectable_and_survives_a_new_broker() -> None:
    first = _paper()
    first.submit(_order("b1", OrderSide.BUY, "3"), market_price=Decimal("100"))
    resumed = SimulatedBroker(SimulatedBrokerConfig(slippage_bps=0, commission_bps=0), state=first.state)
    assert resumed.submit(_order("b1", OrderSide.BUY, "3"), market_price=Decimal("1")).fills[0].price == 100
    assert resumed.list_positions()[0].quantity == 3
    resumed.submit(_order("s1", OrderSide.SELL, "3"), market_price=Decimal("100"))
    assert first.list_positions() == []


def test_settings_configure_the_paper_account(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        SIM_ALLOW_SHORT=True, SIM_INITIAL_CASH="2500", SIM_FEE_PER_ORDER="0.5", SIM_COMMISSION_BPS=0
    )
    config = build_simulated_broker_config(settings)
    assert (config.allow_short, config.initial_cash, config.fee_per_order) == (True, 2500, Decimal("0.5"))
    broker = build_broker(settings)
    assert broker.get_account().cash == Decimal("2500")
    assert not build_simulated_broker_config(make_settings()).allow_short


@pytest.mark.parametrize(
    ("field", "value"),
    [("initial_cash", Decimal("0")), ("initial_cash", Decimal("Infinity")), ("fee_per_order", Decimal("-1"))],
)
def test_config_refuses_unusable_amounts(field: str, value: Decimal) -> None:
    with pytest.raises(ValueError, match=field):
        SimulatedBrokerConfig(**{field: value})  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
            st.sampled_from(["AAPL", "MSFT"]),
            st.decimals(min_value=Decimal("0.5"), max_value=Decimal("400"), places=2),
            st.decimals(min_value=Decimal("1"), max_value=Decimal("500"), places=2),
        ),
        max_size=30,
    ),
    allow_short=st.booleans(),
)
def test_the_paper_account_never_overspends_and_shorts_only_when_allowed(
    orders: list[tuple[OrderSide, str, Decimal, Decimal]], allow_short: bool
) -> None:
    broker = _paper(initial_cash=Decimal("20000"), commission_bps=5, allow_short=allow_short)
    signed: dict[str, Decimal] = {}
    for n, (side, symbol, qty, price) in enumerate(orders):
        before = signed.get(symbol, Decimal(0))
        opens = qty > (max(-before, Decimal(0)) if side is OrderSide.BUY else max(before, Decimal(0)))
        try:
            report = broker.submit(_order(f"o{n}", side, str(qty), symbol), market_price=price)
        except OrderRejected as refused:
            assert refused.reason in ("insufficient_position", "insufficient_buying_power")
            continue
        for fill in report.fills:
            signed[symbol] = signed.get(symbol, Decimal(0)) + (
                fill.qty if side is OrderSide.BUY else -fill.qty
            )
        account = broker.get_account()
        held = {p.symbol: p.quantity for p in broker.list_positions()}
        assert held == {s: q for s, q in signed.items() if q != 0}  # book == sum of fills
        if not allow_short:
            assert all(q > 0 for q in held.values()) and account.short_market_value == 0
        if opens:  # an order that added exposure left buying power (equity - gross) at or above zero
            assert account.equity - account.long_market_value + account.short_market_value >= 0


def test_a_broker_takes_a_state_or_a_store_not_both() -> None:
    from app.execution.simulated import InMemoryAccountStore, SimulatedAccountState

    state = SimulatedAccountState.opening("simulated", Decimal(100))
    with pytest.raises(ValueError, match="not both"):
        SimulatedBroker(state=state, store=InMemoryAccountStore(state))
    shared = InMemoryAccountStore(state)
    first, second = SimulatedBroker(store=shared), SimulatedBroker(store=shared)
    first.submit(_order("b1", OrderSide.BUY, "0.5"), market_price=Decimal("100"))
    assert second.find_order("b1") is not None and second.list_positions()[0].quantity == Decimal("0.5")
    assert second.get_account().cash < 100


# --- the platform's clock -------------------------------------------------------------------

REPLAYED = datetime(2024, 3, 14, 14, 31, 5, tzinfo=UTC)


def test_fills_and_the_governor_follow_the_replayed_platform_clock_not_the_wall_clock(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock.txt"
    set_clock_file(clock_file, REPLAYED)
    settings = make_settings(BROKER="simulated", REPLAY_CLOCK_FILE=str(clock_file))
    with Container(settings) as container:
        container.db.upgrade()
        broker = container.broker
        assert container.clock() == REPLAYED
        first = broker.submit(_order("replayed-1", OrderSide.BUY, "2"), market_price=Decimal("100"))
        set_clock_file(clock_file, REPLAYED + timedelta(minutes=7))  # the driver moves the clock
        second = broker.submit(_order("replayed-2", OrderSide.BUY, "1"), market_price=Decimal("101"))
        stored = broker.find_order("replayed-1")
        # the governor decides on the same clock: its reservation is stamped with the replayed time
        admitted = container.guard.check(
            GuardRequest(symbol="AAPL", notional=100.0, client_order_id="replayed-3", side="buy", price=101.0)
        )
        with container.db.session() as session:
            reserved = session.get(OrderReservation, "replayed-3")
            created = None if reserved is None else reserved.created_at
    assert admitted.allowed and created is not None
    assert created.replace(tzinfo=created.tzinfo or UTC) == REPLAYED + timedelta(minutes=7)
    assert (first.ts, first.fills[0].ts) == (REPLAYED, REPLAYED)
    assert (second.ts, second.fills[0].ts) == (REPLAYED + timedelta(minutes=7),) * 2
    assert stored is not None and stored.fills[0].ts == REPLAYED  # the stored paper account kept it


def test_the_factory_stamps_fills_with_the_settings_clock(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock.txt"
    set_clock_file(clock_file, REPLAYED)
    broker = build_broker(make_settings(REPLAY_CLOCK_FILE=str(clock_file)))
    report = broker.submit(_order("factory-1", OrderSide.BUY, "1"), market_price=Decimal("10"))
    assert report.ts == report.fills[0].ts == REPLAYED
    fixed = build_broker(make_settings(), clock=lambda: REPLAYED + timedelta(days=1))
    assert fixed.submit(_order("factory-2", OrderSide.BUY, "1"), market_price=Decimal("10")).ts == (
        REPLAYED + timedelta(days=1)
    )
