"""Portfolio (the first page): equity curve with drawdown and high-water mark, positions with
their weight against the symbol cap, today's P&L against the daily-loss limit, realised P&L by
day and by strategy.

Sources: ``GET /portfolio`` (the book now and the latest snapshot), ``GET /portfolio/history``
(the snapshots behind the curve), ``GET /portfolio/pnl`` (realised P&L from the fills) and the
status bar's ``limits`` (the governor's marks, equity and each limit's use). The functions
above :func:`render_portfolio` turn those answers into the numbers shown; they are pure so the
tests check the numbers, not the widgets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app.ui.client import Outcome
from app.ui.common import Console, panel_error, to_local, when

__all__ = [
    "DailyLossView",
    "axis_range",
    "daily_loss_view",
    "equity_frame",
    "limit_item",
    "pnl_frame",
    "portfolio_calls",
    "position_rows",
    "render_portfolio",
]

HISTORY_LIMIT = 1000
POSITION_COLUMNS = ["symbol", "qty", "avg cost", "last", "market value", "unrealised", "weight", "cap"]
"""Key columns first: at 800 px the symbol, quantity and average cost stay in view."""


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def portfolio_calls(console: Console) -> dict[str, Callable[[], Any]]:
    api = console.api
    return {
        "portfolio": lambda: api.get("/portfolio"),
        "history": lambda: api.get("/portfolio/history", limit=HISTORY_LIMIT),
        "pnl": lambda: api.get("/portfolio/pnl"),
    }


# --- view models (pure) ---------------------------------------------------------------------
def equity_frame(items: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Snapshots (any order) as a time-ordered frame: equity, high-water mark, drawdown (fraction)."""
    rows = []
    for item in items:
        stamp = when(item.get("ts"))
        equity, hwm, drawdown = (
            _dec(item.get("equity")),
            _dec(item.get("high_water_mark")),
            _dec(item.get("drawdown")),
        )
        if stamp is None or equity is None:
            continue
        rows.append(
            {
                "ts": stamp,
                "equity": float(equity),
                "high_water_mark": float(hwm if hwm is not None else equity),
                "drawdown": float(drawdown if drawdown is not None else 0),
            }
        )
    frame = pd.DataFrame(rows, columns=["ts", "equity", "high_water_mark", "drawdown"])
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def axis_range(values: Iterable[float], pad_fraction: float = 0.05) -> tuple[float, float]:
    """A y-range that fits ``values`` (not from zero), padded; a flat series gets +-0.5 % of its level."""
    numbers = [float(v) for v in values]
    if not numbers:
        return (0.0, 1.0)
    low, high = min(numbers), max(numbers)
    span = high - low
    pad = span * pad_fraction if span > 0 else max(abs(high) * 0.005, 1.0)
    return (low - pad, high + pad)


def limit_item(limits: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """The status bar's ``limits`` entry ``name`` (or None)."""
    if not limits:
        return None
    return next((item for item in limits.get("items", []) if item.get("name") == name), None)


def position_rows(
    positions: Iterable[Mapping[str, Any]],
    limits: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """One row per open position: the book's quantity and average cost, the governor's mark
    (the newest fill price) as ``last``, market value ``qty x last``, unrealised
    ``qty x (last - avg cost)``, weight ``|market value| / equity`` (the governor's equity) and the
    symbol cap ``RISK_MAX_SYMBOL_WEIGHT`` (None when not enforced). Values the page cannot
    compute (no mark, no equity) are None, never guessed."""
    marks = {s["symbol"]: _dec(s.get("mark")) for s in (limits or {}).get("symbols", [])}
    equity = _dec((limits or {}).get("equity"))
    cap_item = limit_item(limits, "max_symbol_weight")
    cap = cap_item.get("limit") if cap_item else None
    rows = []
    for position in positions:
        qty, cost = _dec(position.get("qty")), _dec(position.get("avg_cost"))
        if qty is None or cost is None or qty == 0:
            continue
        last = marks.get(str(position["symbol"]))
        value = qty * last if last is not None else None
        rows.append(
            {
                "symbol": position["symbol"],
                "qty": float(qty),
                "avg cost": float(cost),
                "last": None if last is None else float(last),
                "market value": None if value is None else float(value),
                "unrealised": None if last is None else float(qty * (last - cost)),
                "weight": None if value is None or not equity else float(abs(value) / equity),
                "cap": None if cap is None else float(cap),
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class DailyLossView:
    """Today's P&L (realised today + open unrealised, as the governor counts it) and its limit."""

    pnl: float
    limit: float | None
    use: float | None  # the loss as a fraction of the limit (0 while making money)


def daily_loss_view(limits: Mapping[str, Any] | None) -> DailyLossView | None:
    """From the status bar's ``limits``; None when the book could not be read."""
    if not limits or limits.get("error") or limits.get("realised_today") is None:
        return None
    realised, unrealised = _dec(limits.get("realised_today")), _dec(limits.get("unrealised"))
    if realised is None or unrealised is None:
        return None
    item = limit_item(limits, "daily_loss")
    return DailyLossView(
        pnl=float(realised + unrealised),
        limit=None if item is None else item.get("limit"),
        use=None if item is None else item.get("use"),
    )


def pnl_frame(buckets: Iterable[Mapping[str, Any]], key: str) -> pd.DataFrame:
    """``/portfolio/pnl`` buckets as a frame: ``key`` (day or strategy), realised, fees, fills."""
    rows = [
        {
            key: b["key"],
            "realised": float(_dec(b.get("realised")) or 0),
            "fees": float(_dec(b.get("fees")) or 0),
            "fills": int(b.get("fills", 0)),
        }
        for b in buckets
    ]
    return pd.DataFrame(rows, columns=[key, "realised", "fees", "fills"])


# --- rendering --------------------------------------------------------------------------------
def equity_figure(frame: pd.DataFrame) -> go.Figure:
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    figure.add_trace(go.Scatter(x=frame["ts"], y=frame["equity"], name="equity", mode="lines+markers"), 1, 1)
    figure.add_trace(
        go.Scatter(
            x=frame["ts"],
            y=frame["high_water_mark"],
            name="high-water mark",
            line={"dash": "dot", "width": 1},
        ),
        1,
        1,
    )
    figure.add_trace(
        go.Scatter(x=frame["ts"], y=-frame["drawdown"], name="drawdown", fill="tozeroy", line={"width": 0.8}),
        2,
        1,
    )
    low, high = axis_range([*frame["equity"], *frame["high_water_mark"]])
    figure.update_yaxes(range=[low, high], row=1, col=1)  # fits the data, not from 0
    deepest = float(frame["drawdown"].max()) if len(frame) else 0.0
    figure.update_yaxes(range=[-(deepest * 1.1 or 0.01), 0], tickformat=".2%", row=2, col=1)
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
    return figure


def _money(value: Any) -> str:
    number = _dec(value)
    return "-" if number is None else f"{number:,.2f}"


def _summary(console: Console, portfolio: Outcome, limits: Mapping[str, Any] | None) -> None:
    if not portfolio.ok:
        panel_error("portfolio", portfolio)
        return
    value = portfolio.value
    top = st.columns(3)
    top[0].metric("Equity", _money(value.get("equity")))
    top[1].metric("Cash", _money(value.get("cash")))
    top[2].metric("Realised P&L", _money(value.get("realised_pnl")))
    middle = st.columns(3)
    drawdown = _dec(value.get("drawdown"))
    middle[0].metric("Drawdown", "-" if drawdown is None else f"{drawdown:.2%}")
    middle[1].metric("Open positions", str(value.get("open_positions", 0)))
    daily = daily_loss_view(limits)
    if daily is None:
        reason = (limits or {}).get("error") or "the governor's book is not available"
        middle[2].metric("Today's P&L", "-")
        st.caption(f"daily loss unavailable: {reason}")
    else:
        middle[2].metric("Today's P&L", f"{daily.pnl:,.2f}")
        if daily.limit is None:
            st.caption("Daily loss limit: not enforced (RISK_DAILY_LOSS_LIMIT).")
        else:
            use = daily.use or 0.0
            left, right = st.columns([1, 2])
            left.metric("Daily loss limit", f"{daily.limit:,.2f}", f"{use:.0%} used", delta_color="off")
            right.progress(min(max(use, 0.0), 1.0), text="today's loss against the limit")
    marked = value.get("marked_at")
    st.caption(
        f"Equity and drawdown as of the latest snapshot ({to_local(marked, console.tz, '%Y-%m-%d %H:%M')}); "
        "today's P&L is realised today plus the open positions' unrealised at their newest fill price."
        if marked
        else "No snapshot yet: equity and drawdown appear after the 18:00 reports job "
        "(or `ai-trader portfolio snapshot`)."
    )
    today = value.get("today_pnl")
    if today:
        st.caption(
            f"Day's P&L between snapshots: {_money(today.get('total'))} "
            f"(realised {_money(today.get('realised'))}, unrealised {_money(today.get('unrealised'))})."
        )


def render_portfolio(console: Console, fetched: dict[str, Outcome]) -> None:
    st.subheader("Portfolio")
    status = fetched.get("status")
    limits = status.value.get("limits") if status is not None and status.ok else None
    portfolio = fetched["portfolio"]
    _summary(console, portfolio, limits)

    st.markdown("**Positions**")
    if portfolio.ok:
        rows = position_rows(portfolio.value.get("positions", []), limits)
        if rows:
            st.dataframe(
                pd.DataFrame(rows, columns=POSITION_COLUMNS),
                hide_index=True,
                width="stretch",
                column_config={
                    "qty": st.column_config.NumberColumn(format="%.6g"),
                    "avg cost": st.column_config.NumberColumn(format="%.4f"),
                    "last": st.column_config.NumberColumn(format="%.4f"),
                    "market value": st.column_config.NumberColumn(format="%.2f"),
                    "unrealised": st.column_config.NumberColumn(format="%.2f"),
                    "weight": st.column_config.NumberColumn(format="percent"),
                    "cap": st.column_config.NumberColumn(format="percent"),
                },
                key="positions_table",
            )
            st.caption("last: the symbol's newest fill price; weight: share of the governor's equity.")
        else:
            st.info("No open positions.")

    st.markdown("**Equity**")
    history = fetched["history"]
    if not history.ok:
        panel_error("equity history", history)
    else:
        frame = equity_frame(history.value.get("items", []))
        if frame.empty:
            st.info("No snapshots yet.")
        else:
            st.plotly_chart(equity_figure(frame), width="stretch", key="equity_chart")

    st.markdown("**Realised P&L**")
    pnl = fetched["pnl"]
    if not pnl.ok:
        panel_error("realised P&L", pnl)
        return
    by_day = pnl_frame(pnl.value.get("by_day", []), "day")
    by_strategy = pnl_frame(pnl.value.get("by_strategy", []), "strategy")
    if by_day.empty:
        st.info("No fills yet.")
        return
    money = st.column_config.NumberColumn(format="%.2f")
    left, right = st.columns(2)
    left.caption("by session day (New York)")
    left.dataframe(by_day, hide_index=True, width="stretch", column_config={"realised": money, "fees": money})
    right.caption(f"by strategy (total {_money(pnl.value.get('total'))})")
    right.dataframe(
        by_strategy, hide_index=True, width="stretch", column_config={"realised": money, "fees": money}
    )
