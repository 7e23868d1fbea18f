"""Deterministic order-event streams with partial fills, redeliveries and late reports.

Used by the consumer's integration, crash and e2e tests and by the benchmark: each stream
comes with the exact table contents it must produce.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.bus.envelope import Envelope
from app.domain.orders import (
    ORDER_EVENT_INTENT,
    ORDER_EVENT_UPDATE,
    FillPayload,
    OrderEvent,
    OrderStatus,
)

SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY", "QQQ", "TSLA")
T0 = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ExpectedOrder:
    client_order_id: str
    symbol: str
    status: str
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    fill_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Scenario:
    envelopes: list[Envelope]
    expected: dict[str, ExpectedOrder]

    @property
    def fill_count(self) -> int:
        return sum(len(e.fill_ids) for e in self.expected.values())


def order_event(
    client_order_id: str,
    status: OrderStatus = OrderStatus.NEW,
    *,
    symbol: str = "AAPL",
    qty: str = "10",
    fills: list[FillPayload] | None = None,
    ts: datetime = T0,
    broker_order_id: str | None = None,
) -> OrderEvent:
    return OrderEvent(
        client_order_id=client_order_id,
        symbol=symbol,
        side="buy",
        qty=Decimal(qty),
        status=status,
        strategy="momentum",
        broker_order_id=broker_order_id,
        ts=ts,
        fills=fills or [],
    )


def fill(venue_fill_id: str, qty: str, price: str, ts: datetime = T0) -> FillPayload:
    return FillPayload(venue_fill_id=venue_fill_id, qty=Decimal(qty), price=Decimal(price), ts=ts)


def envelope(event: OrderEvent) -> Envelope:
    kind = ORDER_EVENT_INTENT if event.status is OrderStatus.NEW else ORDER_EVENT_UPDATE
    return Envelope.wrap(kind, event, partition_key=event.client_order_id)


def build(target_events: int, *, seed: int = 7, prefix: str = "ord") -> Scenario:
    """About ``target_events`` envelopes: lifecycles with fills, ~10% redelivered or late."""
    rng = random.Random(seed)
    lifecycles: list[list[Envelope]] = []
    expected: dict[str, ExpectedOrder] = {}
    count = 0
    index = 0
    while count < target_events:
        cid = f"{prefix}-{index:06d}"
        symbol = SYMBOLS[index % len(SYMBOLS)]
        ts = T0 + timedelta(seconds=index)
        qty = rng.randint(2, 40)
        base = Decimal(rng.randint(5000, 50000)) / 100
        broker_id = f"brk-{index:06d}"
        steps = [order_event(cid, OrderStatus.NEW, symbol=symbol, qty=str(qty), ts=ts)]
        steps.append(
            order_event(
                cid, OrderStatus.ACCEPTED, symbol=symbol, qty=str(qty), ts=ts, broker_order_id=broker_id
            )
        )
        outcome = rng.random()
        fills: list[FillPayload] = []
        final = OrderStatus.ACCEPTED
        if outcome < 0.1:
            final = OrderStatus.REJECTED
            steps = [steps[0], order_event(cid, final, symbol=symbol, qty=str(qty), ts=ts)]
        else:
            remaining = qty
            parts = rng.randint(1, 3) if outcome < 0.85 else 1
            for part in range(parts):
                take = remaining if part == parts - 1 else rng.randint(1, max(1, remaining - (parts - part)))
                take = min(take, remaining)
                if take <= 0:
                    break
                remaining -= take
                price = base + Decimal(rng.randint(-50, 50)) / 100
                fills.append(fill(f"{cid}-f{part}", str(take), str(price), ts + timedelta(seconds=part + 1)))
                status = OrderStatus.PARTIALLY_FILLED if remaining > 0 else OrderStatus.FILLED
                # Brokers report new fills only, or all fills so far: exercise both.
                reported = fills[-1:] if rng.random() < 0.5 else list(fills)
                steps.append(
                    order_event(
                        cid,
                        status,
                        symbol=symbol,
                        qty=str(qty),
                        ts=ts + timedelta(seconds=part + 1),
                        fills=reported,
                        broker_order_id=broker_id,
                    )
                )
                final = status
            if final is OrderStatus.PARTIALLY_FILLED:
                final = OrderStatus.CANCELED
                steps.append(
                    order_event(cid, final, symbol=symbol, qty=str(qty), ts=ts + timedelta(minutes=5))
                )
        envelopes = [envelope(step) for step in steps]
        # Redeliveries (same event id) and a late, older report (new event id).
        if rng.random() < 0.3:
            envelopes.append(envelopes[rng.randrange(len(envelopes))])
        if rng.random() < 0.2 and len(steps) > 2:
            envelopes.append(envelope(steps[1]))
        lifecycles.append(envelopes)
        filled = sum((f.qty for f in fills), Decimal(0))
        value = sum((f.qty * f.price for f in fills), Decimal(0))
        expected[cid] = ExpectedOrder(
            cid,
            symbol,
            final.value,
            filled,
            (value / filled).quantize(Decimal("1e-10")) if filled else None,
            frozenset(f.venue_fill_id for f in fills),
        )
        count += len(envelopes)
        index += 1
    return Scenario(_interleave(lifecycles, rng), expected)


def _interleave(lifecycles: list[list[Envelope]], rng: random.Random) -> list[Envelope]:
    """Merge lifecycles keeping each order's own sequence (as one partition key would)."""
    cursors = [0] * len(lifecycles)
    active = list(range(len(lifecycles)))
    out: list[Envelope] = []
    window = 8
    while active:
        pick = rng.randrange(min(window, len(active)))
        which = active[pick]
        out.append(lifecycles[which][cursors[which]])
        cursors[which] += 1
        if cursors[which] == len(lifecycles[which]):
            active.pop(pick)
    return out
