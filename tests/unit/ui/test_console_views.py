"""The numbers the portfolio, risk, models pages and the status bar show, from API-shaped answers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.api.routes.status import trading_state
from app.portfolio.attribution import NO_STRATEGY, AttributedFill, realised_breakdown
from app.risk.governor import BookPosition, GovernorBook, GovernorLimits, GovernorState
from app.risk.limits import book_limit_use
from app.ui.status_bar import limit_bars
from app.ui.views.models import calibration_rows, champion_rows
from app.ui.views.portfolio import axis_range, daily_loss_view, equity_frame, pnl_frame, position_rows
from app.ui.views.risk import action_body, limit_rows, offered_actions

pytestmark = pytest.mark.unit

LIMITS = {
    "equity": "100099",
    "realised_today": "-30",
    "unrealised": "-120.5",
    "items": [
        {
            "name": "max_symbol_weight",
            "setting": "RISK_MAX_SYMBOL_WEIGHT",
            "description": "d",
            "limit": 0.02,
            "measure": 0.00999,
            "use": 0.4995,
            "near": False,
            "symbol": "QQB",
        },
        {
            "name": "daily_loss",
            "setting": "RISK_DAILY_LOSS_LIMIT",
            "description": "d",
            "limit": 500.0,
            "measure": 150.5,
            "use": 0.301,
            "near": False,
            "symbol": None,
        },
        {
            "name": "max_drawdown",
            "setting": "RISK_MAX_DRAWDOWN",
            "description": "d",
            "limit": 0.1,
            "measure": 0.085,
            "use": 0.85,
            "near": True,
            "symbol": None,
        },
        {
            "name": "max_open_orders",
            "setting": "KILL_SWITCH_MAX_OPEN_ORDERS",
            "description": "d",
            "limit": 2.0,
            "measure": 2.0,
            "use": 1.0,
            "near": True,
            "symbol": None,
        },
        {
            "name": "max_gross_exposure",
            "setting": "RISK_MAX_GROSS_EXPOSURE",
            "description": "d",
            "limit": None,
            "measure": 0.0166,
            "use": None,
            "near": False,
            "symbol": None,
        },
    ],
    "symbols": [{"symbol": "QQA", "mark": "110"}, {"symbol": "QQB", "mark": "200"}],
}


def test_position_rows_value_each_holding_at_its_mark_against_the_cap() -> None:
    positions = [
        {"symbol": "QQA", "qty": "6", "avg_cost": "100"},
        {"symbol": "QQB", "qty": "-5", "avg_cost": "200"},
        {"symbol": "QQC", "qty": "2", "avg_cost": "50"},  # no mark: shown without guessing one
        {"symbol": "QQD", "qty": "0", "avg_cost": "0"},  # flat: not a position
    ]
    rows = {r["symbol"]: r for r in position_rows(positions, LIMITS)}
    assert list(rows) == ["QQA", "QQB", "QQC"]
    assert rows["QQA"] == {
        "symbol": "QQA",
        "qty": 6.0,
        "avg cost": 100.0,
        "last": 110.0,
        "market value": 660.0,
        "unrealised": 60.0,
        "weight": pytest.approx(660 / 100099),
        "cap": 0.02,
    }
    assert rows["QQB"]["market value"] == -1000.0 and rows["QQB"]["unrealised"] == 0.0
    assert rows["QQB"]["weight"] == pytest.approx(1000 / 100099)
    assert rows["QQC"]["last"] is None and rows["QQC"]["weight"] is None and rows["QQC"]["cap"] == 0.02
    assert position_rows(positions[:1], None)[0]["cap"] is None


def test_todays_pnl_is_realised_today_plus_open_unrealised_against_the_limit() -> None:
    view = daily_loss_view(LIMITS)
    assert view is not None
    assert view.pnl == -150.5 and view.limit == 500.0 and view.use == 0.301
    assert daily_loss_view({"error": "database down", "items": []}) is None
    unlimited = daily_loss_view({**LIMITS, "items": []})
    assert unlimited is not None and unlimited.limit is None and unlimited.use is None


def test_equity_frame_orders_snapshots_and_the_axis_fits_them() -> None:
    history = [  # newest first, as the API answers
        {"ts": "2026-12-03T23:00:00Z", "equity": "99989", "high_water_mark": "100099", "drawdown": "0.0011"},
        {"ts": "2026-12-02T23:00:00Z", "equity": "99879", "high_water_mark": "100099", "drawdown": "0.0022"},
        {"ts": "2026-12-01T23:00:00Z", "equity": "100099", "high_water_mark": "100099", "drawdown": "0"},
    ]
    frame = equity_frame(history)
    assert list(frame["equity"]) == [100099.0, 99879.0, 99989.0]
    assert list(frame["drawdown"]) == [0.0, 0.0022, 0.0011]
    assert frame["ts"].iloc[0] == datetime(2026, 12, 1, 23, tzinfo=UTC)
    low, high = axis_range([*frame["equity"], *frame["high_water_mark"]])
    assert (low, high) == pytest.approx((99879 - 11, 100099 + 11))  # 5 % of the 220 span, not from 0
    assert axis_range([500.0]) == (497.5, 502.5)  # flat: +-0.5 % of its level
    assert axis_range([0.0]) == (-1.0, 1.0)
    assert axis_range([]) == (0.0, 1.0)


def test_pnl_frame_keeps_the_apis_figures() -> None:
    frame = pnl_frame([{"key": "2026-12-01", "realised": "39", "fees": "1", "fills": 1}], "day")
    assert frame.to_dict("records") == [{"day": "2026-12-01", "realised": 39.0, "fees": 1.0, "fills": 1}]


def test_limit_bars_show_each_enforced_limits_use() -> None:
    bars = {b.name: b for b in limit_bars(LIMITS)}
    assert "max_gross_exposure" not in bars  # not enforced: no bar
    assert bars["max_symbol_weight"].text == "1.0% / 2.0% (QQB)" and bars["max_symbol_weight"].level == "ok"
    assert bars["daily_loss"].text == "150 / 500" and bars["daily_loss"].use == 0.301
    assert bars["max_drawdown"].level == "near" and bars["max_drawdown"].text == "8.5% / 10.0%"
    assert bars["max_open_orders"].level == "over" and bars["max_open_orders"].text == "2 / 2"


def test_governor_controls_offered_per_state() -> None:
    assert offered_actions("ACTIVE", None) == ["halt", "reduce"]
    assert offered_actions("REDUCING", None) == ["halt", "resume"]
    assert offered_actions("REDUCING", "kill_switch_drawdown") == ["halt", "reset"]
    assert offered_actions("HALTED", None) == ["reduce", "resume"]
    assert offered_actions("REDUCING", "reconcile:quantity_mismatch AAPL") == ["halt", "acknowledge", "reset"]
    assert action_body("acknowledge", " broker is right ", " alice ") == {
        "who": "alice",
        "why": "broker is right",
    }
    with pytest.raises(ValueError, match="reason is required"):
        action_body("acknowledge", " ", "alice")
    assert action_body("reduce", " wind down ", "") == {
        "state": "REDUCING",
        "reason": "wind down",
        "actor": "console",
    }
    assert action_body("reset", "reviewed", "alice") == {
        "reset": True,
        "reason": "reviewed",
        "actor": "alice",
    }
    with pytest.raises(ValueError, match="reason is required"):
        action_body("halt", "   ", "alice")


def test_limit_rows_list_guard_limits_then_governor_use() -> None:
    guard = {
        "items": [
            {"name": "notional", "setting": "KILL_SWITCH_NOTIONAL", "value": 5000.0, "description": "x"}
        ]
    }
    rows = limit_rows(guard, LIMITS)
    assert [r["limit"] for r in rows][:3] == ["notional", "max_symbol_weight", "daily_loss"]
    assert rows[1]["now"] == 0.00999 and rows[1]["use"] == 0.4995 and rows[1]["meaning"].endswith("(QQB)")
    assert rows[0]["use"] is None


def test_trading_state_maps_the_governor() -> None:
    assert trading_state(False, "REDUCING") == "REDUCING"
    assert trading_state(True, "REDUCING") == "HALTED"
    assert trading_state(False, "ACTIVE") == "ACTIVE"
    assert trading_state(False, "SOMETHING") == "UNKNOWN"


def test_calibration_and_champion_rows() -> None:
    curve = {"forecast": [0.6], "observed": [0.3], "count": [12.0]}
    calibration = {
        "regimes": {
            "trend_up": {
                "samples": 12,
                "brier": 0.31,
                "ece": 0.3,
                "mean_prob": 0.6,
                "base_rate": 0.3,
                "drift": True,
                "judged": True,
                "reliability": curve,
            },
            "range_low_vol": {
                "samples": 3,
                "brier": 0.2,
                "ece": 0.4,
                "mean_prob": 0.5,
                "base_rate": 0.33,
                "drift": False,
                "judged": False,
                "reliability": curve,
            },
        }
    }
    rows = {r["regime"]: r for r in calibration_rows(calibration)}
    assert rows["trend_up"]["drift"] == "DRIFT" and rows["trend_up"]["outcomes"] == 12
    assert rows["range_low_vol"]["drift"] == "too few" and rows["range_low_vol"]["ECE"] == 0.4
    strategy = {
        "champion": None,
        "challenger": {
            "version": "v2",
            "samples": 900,
            "model": {"brier": 0.249, "log_loss": 0.68, "ece": 0.02},
            "prior": {"brier": 0.25, "log_loss": 0.69},
            "brier_improvement": 0.004,
        },
    }
    champion, challenger = champion_rows(strategy)
    assert champion == {"role": "champion", "version": "Beta prior"}
    assert (challenger["Brier"], challenger["prior Brier"], challenger["Brier gain"]) == (0.249, 0.25, 0.004)


def _fill(
    seq: int, symbol: str, side: str, qty: str, price: str, day: int, strategy: str | None, fee: str = "0"
) -> AttributedFill:
    return AttributedFill(
        seq=seq,
        fill_id=f"f{seq}",
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        ts=datetime(2026, 12, day, 15, tzinfo=UTC),
        strategy=strategy,
    )


def test_realised_breakdown_books_pnl_to_the_closing_day_and_strategy() -> None:
    fills = [
        _fill(3, "QQA", "sell", "15", "90", 2, None, fee="2"),  # closes 10 long (-100), opens 5 short
        _fill(1, "QQA", "buy", "10", "100", 1, "breakout"),
        _fill(4, "QQA", "buy", "5", "80", 3, "momentum"),  # covers the short: +50
        _fill(2, "QQB", "buy", "1", "10", 1, "momentum", fee="0.5"),
    ]
    breakdown = realised_breakdown(fills)
    assert [(b.key, b.realised, b.fills) for b in breakdown.by_day] == [
        ("2026-12-01", Decimal("-0.5"), 2),
        ("2026-12-02", Decimal("-102"), 1),
        ("2026-12-03", Decimal("50"), 1),
    ]
    assert {b.key: b.realised for b in breakdown.by_strategy} == {
        NO_STRATEGY: Decimal("-102"),
        "breakout": Decimal(0),
        "momentum": Decimal("49.5"),
    }
    assert breakdown.total == Decimal("-52.5")


def test_limit_use_on_a_book_without_an_order() -> None:
    book = GovernorBook(
        state=GovernorState.ACTIVE,
        positions={
            "QQA": BookPosition(Decimal(6), Decimal(100), Decimal(110)),
            "QQB": BookPosition(Decimal(-5), Decimal(200), None),  # no mark: its average cost
        },
        pending={"QQC": Decimal(500)},
        open_orders=1,
        realised_today=Decimal(-100),
        realised_total=Decimal(39),
        starting_equity=Decimal(10_000),
        high_water_mark=Decimal(11_000),
    )
    limits = GovernorLimits(
        max_symbol_weight=0.1,
        max_gross_exposure=0.5,
        max_open_positions=2,
        daily_loss=200.0,
        max_drawdown=0.2,
        max_open_orders=0,
    )
    report = book_limit_use(book, limits)
    equity = Decimal(10_000) + 39 + 60
    assert report.equity == equity and report.high_water_mark == 11_000
    use = {i.name: i for i in report.items}
    assert use["max_symbol_weight"].symbol == "QQB" and use["max_symbol_weight"].measure == pytest.approx(
        1000 / 10099, abs=1e-6
    )
    assert use["max_gross_exposure"].measure == pytest.approx((660 + 1000 + 500) / 10099, abs=1e-6)
    assert use["max_open_positions"].measure == 3 and use["max_open_positions"].use == 1.5
    assert use["daily_loss"].measure == 40 and use["daily_loss"].use == 0.2  # -(-100 + 60)
    assert use["max_drawdown"].measure == pytest.approx(1 - 10099 / 11000, abs=1e-6)
    assert use["max_open_orders"].use == 1.0 and use["max_open_orders"].near
    assert {s.symbol: s.weight for s in report.symbols}["QQA"] == Decimal(660) / equity
    with pytest.raises(Exception, match="not positive"):
        book_limit_use(GovernorBook(state=GovernorState.ACTIVE, starting_equity=Decimal(0)), limits)
