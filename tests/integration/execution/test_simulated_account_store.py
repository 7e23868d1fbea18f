"""The simulated broker's paper account stored in SQLite and PostgreSQL: shared by every
process, one submit at a time, so concurrent submits never overspend or oversell."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.bootstrap import Container
from app.config import Settings
from app.domain.orders import OrderEvent, OrderSide, OrderStatus
from app.errors import OrderRejected
from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig
from app.storage.db import Database
from app.storage.repositories.simulated_account import SimulatedAccountRepository
from tests.servers import REPO

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def _order(
    client_order_id: str, side: OrderSide, *, qty: str | None = None, notional: str | None = None
) -> OrderEvent:
    sizing = {"qty": Decimal(qty)} if qty is not None else {"notional": Decimal(str(notional))}
    return OrderEvent(client_order_id=client_order_id, symbol="AAPL", side=side, ts=T0, **sizing)


@pytest.fixture
def second_database(database_url: str, database: Database) -> Iterator[Database]:
    """A second engine on the same database: what another process would open."""
    other = Database(database_url)
    yield other
    other.dispose()


def _broker(db: Database, cash: str = "10000") -> SimulatedBroker:
    config = SimulatedBrokerConfig(slippage_bps=0, commission_bps=0, initial_cash=Decimal(cash))
    store = SimulatedAccountRepository(db, account=config.account, initial_cash=config.initial_cash)
    return SimulatedBroker(config, store=store, clock=lambda: T0)


def test_a_second_process_sees_the_same_paper_account(database: Database, second_database: Database) -> None:
    api, cli = _broker(database), _broker(second_database)
    bought = api.submit(_order("b1", OrderSide.BUY, qty="30"), market_price=Decimal("100"))
    assert bought.status is OrderStatus.FILLED
    (position,) = cli.list_positions()
    assert (position.symbol, position.quantity, position.average_entry_price) == ("AAPL", 30, 100)
    account = cli.get_account()
    assert (account.cash, account.equity, account.buying_power) == (
        Decimal(7000),
        Decimal(10000),
        Decimal(7000),
    )
    # the same client_order_id from the other process reports the first fill, fills nothing more
    again = cli.submit(_order("b1", OrderSide.BUY, qty="30"), market_price=Decimal("1"))
    assert again == bought and cli.find_order("b1") == bought and cli.find_order("nope") is None
    assert [o.client_order_id for o in api.orders()] == ["b1"]
    cli.mark({"AAPL": Decimal("110")})
    assert api.get_account().equity == Decimal(10300)
    # a sell beyond the holding is refused in any process, and leaves the account as it was
    with pytest.raises(OrderRejected, match="insufficient_position"):
        api.submit(_order("s1", OrderSide.SELL, qty="31"), market_price=Decimal("110"))
    assert cli.get_account().cash == Decimal(7000) and cli.find_order("s1") is None
    sold = cli.submit(_order("s2", OrderSide.SELL, qty="30"), market_price=Decimal("110"))
    assert sold.status is OrderStatus.FILLED and api.list_positions() == []
    assert api.get_account().cash == Decimal(10300)
    # the stored starting cash is the truth once the account exists
    assert _broker(database, cash="1").get_account().cash == Decimal(10300)


def test_concurrent_buys_from_two_processes_never_overspend(
    database: Database, second_database: Database
) -> None:
    brokers = [_broker(database), _broker(second_database)]
    start = threading.Barrier(20)

    def buy(i: int) -> str:
        start.wait()
        try:
            brokers[i % 2].submit(
                _order(f"b{i}", OrderSide.BUY, notional="1000"), market_price=Decimal("100")
            )
        except OrderRejected as exc:
            return exc.reason
        return "filled"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(buy, range(20)))
    assert outcomes.count("filled") == 10  # 10 x 1,000 is exactly the cash
    assert set(outcomes) == {"filled", "insufficient_buying_power"}
    account = brokers[0].get_account()
    assert account.cash == 0 and account.buying_power == 0
    assert brokers[1].list_positions()[0].quantity == 100
    assert len(brokers[1].orders()) == 10


def test_concurrent_sells_from_two_processes_never_sell_what_is_not_held(
    database: Database, second_database: Database
) -> None:
    brokers = [_broker(database), _broker(second_database)]
    brokers[0].submit(_order("b0", OrderSide.BUY, qty="10"), market_price=Decimal("100"))
    start = threading.Barrier(20)

    def sell(i: int) -> str:
        start.wait()
        try:
            brokers[i % 2].submit(_order(f"s{i}", OrderSide.SELL, qty="1"), market_price=Decimal("100"))
        except OrderRejected as exc:
            return exc.reason
        return "filled"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(sell, range(20)))
    assert outcomes.count("filled") == 10
    assert set(outcomes) == {"filled", "insufficient_position"}
    assert brokers[1].list_positions() == [] and brokers[0].get_account().cash == Decimal(10000)


def test_the_container_wires_the_stored_paper_account(
    database_url: str, database: Database, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(DATABASE_URL=database_url, SIM_SLIPPAGE_BPS=0, SIM_COMMISSION_BPS=0)
    with Container(settings) as first:
        first.broker.submit(_order("c1", OrderSide.BUY, qty="2"), market_price=Decimal("50"))
    with Container(settings) as restarted:
        (position,) = restarted.broker.list_positions()
        assert position.quantity == 2
        assert restarted.broker.get_account().cash == settings.SIM_INITIAL_CASH - 100


_SUBMITTER = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from app.domain.orders import OrderEvent, OrderSide
from app.errors import OrderRejected
from app.execution.simulated import SimulatedBroker, SimulatedBrokerConfig
from app.storage.db import Database
from app.storage.repositories.simulated_account import SimulatedAccountRepository

url, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
db = Database(url)
config = SimulatedBrokerConfig(slippage_bps=0, commission_bps=0, initial_cash=Decimal(10000))
broker = SimulatedBroker(
    config, store=SimulatedAccountRepository(db, account="simulated", initial_cash=config.initial_cash)
)
while not go.exists():
    time.sleep(0.01)

def buy(i):
    intent = OrderEvent(
        client_order_id=f"{name}-{i}", symbol="AAPL", side=OrderSide.BUY, notional=Decimal(1000),
        ts=datetime(2026, 3, 10, 15, tzinfo=UTC),
    )
    try:
        broker.submit(intent, market_price=Decimal(100))
    except OrderRejected as exc:
        return exc.reason
    return "filled"

with ThreadPoolExecutor(max_workers=10) as pool:
    print(json.dumps(list(pool.map(buy, range(10)))))
db.dispose()
"""


def test_two_processes_buying_at_once_spend_the_cash_exactly_once(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SUBMITTER, database_url, name, str(go)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("api", "scheduler")
    ]
    time.sleep(1.0)  # both have connected and wait for the signal
    go.touch()
    outcomes: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes += json.loads(out)
    assert outcomes.count("filled") == 10 and outcomes.count("insufficient_buying_power") == 10
    account = _broker(database).get_account()
    assert account.cash == 0 and _broker(database).list_positions()[0].quantity == 100
