"""Each governor limit's use by a marked book, as the 18:00 report shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.portfolio import DailyPnl, Position, mark_to_market
from app.risk.governor import GovernorLimits
from app.risk.limits import limit_use

AT = datetime(2026, 11, 3, 23, 0, tzinfo=UTC)


def _book() -> tuple[list[Position], dict[str, Decimal]]:
    positions = [
        Position(account="simulated", symbol="AAPL", quantity=Decimal(100), cost_basis=Decimal(10000)),
        Position(account="simulated", symbol="MSFT", quantity=Decimal(-10), cost_basis=Decimal(-4000)),
    ]
    return positions, {"AAPL": Decimal(110), "MSFT": Decimal(400)}


def test_each_set_limit_is_measured_against_the_book() -> None:
    positions, prices = _book()
    snapshot = mark_to_market(positions, account="simulated", cash=Decimal(94000), prices=prices, at=AT)
    assert snapshot.equity == Decimal(101000)  # 94,000 + 11,000 - 4,000
    limits = GovernorLimits(
        max_symbol_weight=0.12,
        max_gross_exposure=2.0,
        max_open_positions=2,
        daily_loss=1000.0,
        max_drawdown=0.1,
        max_open_orders=4,
    )
    day = DailyPnl(
        total=Decimal(-850), realised=Decimal(0), unrealised=Decimal(-850), start_equity=Decimal(101850)
    )
    use = limit_use(snapshot, positions, prices, limits, day=day, open_orders=1)
    assert use.use == {
        "max_symbol_weight": round(11000 / 101000 / 0.12, 6),
        "max_gross_exposure": round(15000 / 101000 / 2.0, 6),
        "max_open_positions": 1.0,
        "daily_loss": 0.85,
        "max_drawdown": 0.0,
        "max_open_orders": 0.25,
    }
    assert use.warnings == ["daily_loss", "max_open_positions", "max_symbol_weight"]
    assert use.limits["daily_loss"] == 1000.0 and use.measures["daily_loss"] == 850.0


def test_unset_limits_are_absent_and_unmeasurable_ones_say_why() -> None:
    positions, prices = _book()
    snapshot = mark_to_market(positions, account="simulated", cash=Decimal(94000), prices=prices, at=AT)
    assert limit_use(snapshot, positions, prices, GovernorLimits(), day=None, open_orders=None).use == {}
    use = limit_use(
        snapshot,
        positions,
        prices,
        GovernorLimits(daily_loss=500.0, max_open_orders=3),
        day=None,
        open_orders=None,
    )
    assert use.use == {} and set(use.unmeasured) == {"daily_loss", "max_open_orders"}
    gain = DailyPnl(
        total=Decimal(300), realised=Decimal(300), unrealised=Decimal(0), start_equity=Decimal(100700)
    )
    assert limit_use(
        snapshot, positions, prices, GovernorLimits(daily_loss=500.0), day=gain, open_orders=0
    ).use == {"daily_loss": 0.0}
