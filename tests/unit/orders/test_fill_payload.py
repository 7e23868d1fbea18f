"""A fill's cumulative quantity, the inferred-fill fields and the share intervals they define."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.domain.orders import FillPayload, OrderEvent, OrderSide, uncovered

D = Decimal
AT = datetime(2026, 11, 25, 15, 2, tzinfo=UTC)


def _fill(**fields: Any) -> FillPayload:
    return FillPayload(**({"venue_fill_id": "f-1", "qty": D(5), "price": D(10), "ts": AT} | fields))


def test_a_fill_without_the_new_fields_serialises_as_before() -> None:
    fill = _fill()
    assert fill.model_dump(mode="json") == {
        "venue_fill_id": "f-1",
        "qty": "5",
        "price": "10",
        "fee": "0",
        "ts": "2026-11-25T15:02:00Z",
    }
    assert fill.span is None


def test_cumulative_and_inferred_fields_round_trip_on_the_order_payload() -> None:
    fill = _fill(cum_qty=D(20), inferred=True, order_avg_price=D("10.5"))
    event = OrderEvent(
        client_order_id="c-1", symbol="MSFT", side=OrderSide.BUY, qty=D(20), ts=AT, fills=[fill]
    )
    payload = event.model_dump(mode="json")
    assert payload["fills"][0] == fill.model_dump(mode="json")
    assert (payload["fills"][0]["cum_qty"], payload["fills"][0]["inferred"]) == ("20", True)
    assert OrderEvent.model_validate(payload) == event
    assert fill.span == (D(15), D(20))


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"cum_qty": D(4)}, "cum_qty 4 is below the fill's qty 5"),
        ({"inferred": True, "cum_qty": D(5)}, "an inferred fill needs cum_qty and order_avg_price"),
        ({"inferred": True, "order_avg_price": D(10)}, "an inferred fill needs cum_qty and order_avg_price"),
        ({"order_avg_price": D(10), "cum_qty": D(5)}, "order_avg_price belongs to inferred fills only"),
        ({"cum_qty": D(0)}, "greater than 0"),
    ],
)
def test_inconsistent_cumulative_fields_are_refused(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _fill(**fields)


@pytest.mark.parametrize(
    ("spans", "low", "high", "gaps"),
    [
        ([], 0, 50, [(0, 50)]),
        ([(0, 10)], 0, 50, [(10, 50)]),
        ([(10, 30)], 0, 50, [(0, 10), (30, 50)]),
        ([(30, 50), (0, 10)], 0, 50, [(10, 30)]),
        ([(0, 10), (10, 30), (30, 50)], 0, 50, []),
        ([(0, 60)], 0, 50, []),
        ([(5, 15), (10, 20)], 0, 30, [(0, 5), (20, 30)]),
        ([(0, 10), (40, 50)], 10, 40, [(10, 40)]),
        ([(60, 70)], 0, 50, [(0, 50)]),
    ],
)
def test_uncovered_lists_the_gaps_lowest_first(
    spans: list[tuple[int, int]], low: int, high: int, gaps: list[tuple[int, int]]
) -> None:
    found = uncovered([(D(a), D(b)) for a, b in spans], D(low), D(high))
    assert found == [(D(a), D(b)) for a, b in gaps]
