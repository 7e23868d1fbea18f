"""The replayed live loop, shared by the parity tests: the router in target mode, bar by bar.

A :class:`ReplayLoop` drives one paper account (the simulated broker with its stored state)
through a recording: for each 5-minute bar the platform clock moves to just past the bar's
end and the symbols are routed in one routing pass, as the intraday refresh routes its
watchlist (:meth:`app.router.service.RouterService.run_pass`): the router reads every
symbol's recorded bars through the ``replay`` vendor (nothing after now) and marks the paper
account at each symbol's newest completed close; then, symbol after symbol, it decides on that
bar, sizes the target against the account (the governor valuing the book at the broker's
marks), executes on the simulated broker and publishes to the local bus; the order consumer's
own step then writes orders, fills and positions to SQLite before the next symbol is routed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from app.bootstrap import Container
from app.config import Settings
from app.domain.clock import set_clock_file
from app.router.schemas import RouterRunRequest, RouterRunResult
from app.workers.order_consumer import OrderConsumer, OrderConsumerConfig
from tests.replay_recording import SESSION

__all__ = ["BAR", "CASH", "PRICE_STEP", "LiveBar", "ReplayLoop", "replay_container", "replay_settings"]

CASH = 100_000
"""Both accounts' starting cash."""
PRICE_STEP = Decimal("0.0001")
"""The simulated broker's price step: its fills are the bar's close rounded to it."""
BAR = pd.Timedelta(minutes=5)


@dataclass
class LiveBar:
    """One router run of the replayed loop, and the account's holding of its symbol after it."""

    symbol: str
    time: pd.Timestamp
    fallback: str | None
    position: float | None
    frac: float | None
    target_qty: Decimal | None
    held_after: Decimal
    buys: list[tuple[Decimal, Decimal]]
    sells: list[tuple[Decimal, Decimal]]
    equity: float | None


def replay_settings(root: Path, recording: Path, **overrides: Any) -> Settings:
    """A paper account on the replayed market: no fees, no slippage, no rebalance band."""
    values: dict[str, Any] = {
        "DATA_DIR": root / "var",
        "ARTIFACTS_DIR": root / "artifacts",
        "REPLAY_DIR": recording,
        "REPLAY_CLOCK_FILE": root / "clock",
        "DAL_AUTO_ORDER": "replay",
        "BROKER": "simulated",
        "SIM_INITIAL_CASH": CASH,
        "RISK_ACCOUNT_EQUITY": CASH,
        "SIM_SLIPPAGE_BPS": 0,
        "SIM_COMMISSION_BPS": 0,
        "SIM_FEE_PER_ORDER": 0,
        "ROUTER_REBALANCE_MIN_NOTIONAL": 0,
        "ROUTER_REBALANCE_MIN_FRACTION": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def replay_container(root: Path, recording: Path, **overrides: Any) -> Iterator[tuple[Container, Path]]:
    """The process's container on :func:`replay_settings`, its database migrated, the platform
    clock file at the replayed session's midnight; yields (container, clock file)."""
    settings = replay_settings(root, recording, **overrides)
    clock = root / "clock"
    set_clock_file(clock, pd.Timestamp(SESSION, tz="America/New_York").to_pydatetime())
    with Container(settings) as container:
        container.db.upgrade()
        yield container, clock


class ReplayLoop:
    """Steps the router over recorded bars against one paper account (use as a context manager)."""

    def __init__(self, container: Container, clock: Path) -> None:
        settings = container.settings
        config = OrderConsumerConfig(hub=settings.EH_HUB_ORDERS, group=settings.EH_CONSUMER_GROUP)
        self.container = container
        self.clock = clock
        self._consumer = container.bus.consumer(config.hub, config.group)
        self._worker = OrderConsumer(self._consumer, container.orders, config)

    def __enter__(self) -> ReplayLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self._consumer.close()

    def after(self, stamp: pd.Timestamp) -> None:
        """Move the platform clock to just past the end of the bar starting at ``stamp``."""
        set_clock_file(self.clock, (stamp + BAR + pd.Timedelta(seconds=1)).to_pydatetime())

    def step(
        self, symbol: str, strategy: str, stamp: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp
    ) -> LiveBar:
        """One target-mode run of ``symbol`` on the bar starting at ``stamp`` (a pass of one)."""
        return self.route((symbol,), strategy, stamp, start, end)[symbol]

    def route(
        self,
        symbols: Sequence[str],
        strategy: str,
        stamp: pd.Timestamp,
        start: pd.Timestamp,
        end: pd.Timestamp,
    ) -> dict[str, LiveBar]:
        """One routing pass of ``symbols``, in order, on the bar starting at ``stamp`` (the clock
        is past it), the order consumer drained after each run; each run must decide on that bar."""
        requests = [
            RouterRunRequest(
                symbol=symbol,
                start=start.to_pydatetime(),
                end=end.to_pydatetime(),
                strategy=strategy,
                interval="5Min",
                offline_mode=False,
                publish_orders=True,
                execute_orders=True,
            )
            for symbol in symbols
        ]
        out: dict[str, LiveBar] = {}
        for routed in self.container.router.run_pass(requests):
            assert routed.result is not None, routed.error
            while batch := self._consumer.poll(1000, 0.0):
                self._worker.process(batch)
            out[routed.request.symbol] = self._live_bar(routed.result, stamp)
        return out

    def _live_bar(self, result: RouterRunResult, stamp: pd.Timestamp) -> LiveBar:
        symbol = result.symbol
        assert result.signal_bar_time is not None and pd.Timestamp(result.signal_bar_time) == stamp, result
        execution = result.execution if result.executed else None
        fills = execution.fills if execution is not None else []
        side = execution.side if execution is not None else None
        book = {p.symbol: p.quantity for p in self.container.broker.list_positions()}
        return LiveBar(
            symbol=symbol,
            time=stamp,
            fallback=result.fallback_reason,
            position=result.position,
            frac=result.frac,
            target_qty=None if result.target_qty is None else Decimal(str(result.target_qty)),
            held_after=book.get(symbol, Decimal(0)),
            buys=[(f.qty, f.price) for f in fills if side == "buy"],
            sells=[(f.qty, f.price) for f in fills if side == "sell"],
            equity=result.equity,
        )
