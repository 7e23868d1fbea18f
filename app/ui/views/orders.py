"""Orders & fills: curated columns in local time, coloured status, filters, one order's detail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
import streamlit as st

from app.ui.client import Outcome
from app.ui.common import EXCHANGE_TZ, Console, panel_error, to_local, when
from app.ui.sources import DashboardSource

__all__ = ["OPEN_STATUSES", "order_rows", "orders_calls", "render_orders"]

STATUSES = ["", "new", "accepted", "partially_filled", "filled", "canceled", "rejected", "expired"]
OPEN_STATUSES = {"new", "accepted", "partially_filled"}
PAGE_SIZE = 200
STATUS_MARKS = {
    "filled": "🟢",
    "partially_filled": "🟡",
    "accepted": "🔵",
    "new": "🔵",
    "canceled": "⚪",
    "expired": "⚪",
    "rejected": "🔴",
}
"""The status colour of the orders table: a mark in the cell (a styled table of 200 rows costs
more server time than the rest of the page together)."""
MONEY = st.column_config.NumberColumn(format="%.2f")
ORDER_COLUMNS = {
    "notional": MONEY,
    "avg price": st.column_config.NumberColumn(format="%.4f"),
    "qty": st.column_config.NumberColumn(format="%.6g"),
    "filled": st.column_config.NumberColumn(format="%.6g"),
    "id": st.column_config.NumberColumn(format="%d"),
}


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def notional_of(order: dict[str, Any]) -> Decimal | None:
    """The order's notional, else what it filled for (filled qty x average price)."""
    given = _dec(order.get("notional"))
    if given is not None:
        return given
    qty, price = _dec(order.get("filled_qty")), _dec(order.get("avg_fill_price"))
    if qty and price:
        return (qty * price).quantize(Decimal("0.01"))
    return None


def order_rows(orders: list[dict[str, Any]], tz: Any) -> pd.DataFrame:
    """The curated order table, key columns first (symbol, side, status, notional)."""
    rows = [
        {
            "symbol": o["symbol"],
            "side": o["side"],
            "status": f"{STATUS_MARKS.get(o['status'], '⚪')} {o['status']}",
            "notional": float(n) if (n := notional_of(o)) is not None else None,
            "qty": float(q) if (q := _dec(o.get("qty"))) is not None else None,
            "filled": float(_dec(o.get("filled_qty")) or 0),
            "avg price": float(p) if (p := _dec(o.get("avg_fill_price"))) is not None else None,
            "strategy": o.get("strategy") or "",
            "time": to_local(o.get("created_at"), tz),
            "id": o["id"],
        }
        for o in orders
    ]
    columns = ["symbol", "side", "status", "notional", "qty", "filled", "avg price", "strategy", "time", "id"]
    return pd.DataFrame(rows, columns=columns)


def fill_rows(fills: list[dict[str, Any]], tz: Any) -> pd.DataFrame:
    rows = [
        {
            "symbol": f["symbol"],
            "side": f["side"],
            "qty": float(f["qty"]),
            "price": float(f["price"]),
            "fee": float(f["fee"]),
            "time": to_local(f.get("ts"), tz),
            "order": f["order_id"],
        }
        for f in fills
    ]
    return pd.DataFrame(rows, columns=["symbol", "side", "qty", "price", "fee", "time", "order"])


def _filters() -> tuple[str | None, str | None, str | None, bool]:
    cols = st.columns([1, 1, 1, 0.8])
    symbol = cols[0].text_input("Symbol", key="orders_symbol").strip().upper() or None
    status = cols[1].selectbox(
        "Status", STATUSES, key="orders_status", format_func=lambda value: value or "any"
    )
    strategy = cols[2].text_input("Strategy", key="orders_strategy").strip() or None
    today = cols[3].toggle("Today", key="orders_today")
    return symbol, status or None, strategy, today


def orders_calls(console: Console, source: DashboardSource) -> dict[str, Callable[[], Any]]:
    """The sources of this page for the current filters (read before fetching)."""
    symbol = st.session_state.get("orders_symbol", "").strip().upper() or None
    status = st.session_state.get("orders_status") or None
    since = None
    if st.session_state.get("orders_today"):
        day = datetime.now(EXCHANGE_TZ).date()
        since = datetime.combine(day, time(0), tzinfo=EXCHANGE_TZ)
    return {
        "orders": lambda: source.orders(limit=PAGE_SIZE, symbol=symbol, status=status, since=since),
        "fills": lambda: source.fills(limit=PAGE_SIZE, symbol=symbol, since=since),
    }


def _detail(console: Console, orders: list[dict[str, Any]]) -> None:
    labels = {o["id"]: f"#{o['id']} · {o['symbol']} {o['side']} · {o['status']}" for o in orders}
    chosen = st.selectbox(
        "Order detail",
        [None, *labels],
        key="order_detail",
        format_func=lambda i: "(choose an order)" if i is None else labels[i],
    )
    if chosen is None:
        return
    fetched = console.fetch(
        {
            "detail": lambda: console.api.get(f"/orders/{chosen}"),
            "run": lambda: console.api.get(f"/orders/{chosen}/run"),
        }
    )
    outcome = fetched["detail"]
    if not outcome.ok:
        panel_error("order detail", outcome)
        return
    order = outcome.value
    left, right = st.columns(2)
    left.markdown(
        f"**{order['symbol']} {order['side']}** · {order['type']} · {order['time_in_force']}  \n"
        f"client order id `{order['client_order_id']}`  \n"
        f"broker order id `{order.get('broker_order_id') or '-'}`"
    )
    right.markdown(
        f"status **{order['status']}** · filled {order['filled_qty']}"
        f" @ {order.get('avg_fill_price') or '-'}  \n"
        f"created {to_local(order['created_at'], console.tz)}  \n"
        f"updated {to_local(order['updated_at'], console.tz)}  \n"
        f"router event `{order.get('source_event_id') or '-'}`"
    )
    fills = order.get("fills") or []
    if fills:
        st.dataframe(fill_rows(fills, console.tz), hide_index=True, width="stretch")
    else:
        st.caption("No fills for this order.")
    _router_run(console, fetched["run"])
    if order["status"] in OPEN_STATUSES:
        _cancel(console, order)


def _router_run(console: Console, outcome: Outcome) -> None:
    st.markdown("**Router run**")
    if not outcome.ok:
        if "no router run is recorded" in str(outcome.error):
            st.caption("No router run is recorded for this order.")
        else:
            panel_error("router run", outcome)
        return
    run = outcome.value
    guard = run.get("guard") or {}
    verdict = "passed" if guard.get("allowed") else f"tripped: {guard.get('reason')}" if guard else "-"
    st.caption(
        f"run `{run['run_id'][:12]}` · {run['strategy']} on {run['symbol']}"
        f" · regime {run.get('regime') or '-'}"
        f" · prob {_num(run.get('prob'), 3)} · frac {_num(run.get('frac'), 4)} · guard {verdict}"
        f" · {run.get('total_ms') or 0:.0f} ms · recorded {to_local(run['recorded_at'], console.tz)}"
    )
    st.dataframe(
        pd.DataFrame({"step": range(1, len(run["events"]) + 1), "event": run["events"]}),
        hide_index=True,
        width="stretch",
        height=min(600, 36 * (len(run["events"]) + 1) + 4),
    )


def _num(value: Any, places: int) -> str:
    return f"{float(value):.{places}f}" if isinstance(value, int | float) else "-"


def _cancel(console: Console, order: dict[str, Any]) -> None:
    with st.form(f"cancel_{order['id']}"):
        reason = st.text_input("Reason for cancelling", key=f"cancel_reason_{order['id']}")
        if st.form_submit_button("Cancel this order", type="primary"):
            if not reason.strip():
                st.error("A reason is required to cancel an order.")
                return
            result = console.fetch(
                {"cancel": lambda: console.api.post(f"/orders/{order['id']}/cancel", {"reason": reason})}
            )["cancel"]
            if result.ok:
                st.success(f"Cancel requested for order #{order['id']}: {result.value.get('status')}")
            else:
                panel_error("cancel", result)


def render_orders(console: Console, source: DashboardSource, fetched: dict[str, Outcome]) -> None:
    st.subheader("Orders & fills")
    _filters()
    strategy = st.session_state.get("orders_strategy", "").strip() or None
    orders_out = fetched["orders"]
    if not orders_out.ok:
        panel_error("orders", orders_out)
    else:
        orders = [o for o in orders_out.value if strategy is None or (o.get("strategy") or "") == strategy]
        table = order_rows(orders, console.tz)
        open_count = sum(1 for o in orders if o["status"] in OPEN_STATUSES)
        total = sum((notional_of(o) or Decimal(0)) for o in orders)
        cols = st.columns(4)
        cols[0].metric("Orders shown", len(orders))
        cols[1].metric("Open", open_count)
        cols[2].metric("Filled", sum(1 for o in orders if o["status"] == "filled"))
        cols[3].metric("Notional", f"{total:,.2f}")
        if orders:
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config=ORDER_COLUMNS,
                key="orders_table",
            )
            _detail(console, orders)
        else:
            st.info("No orders match these filters." if _any_filter() else "No orders yet.")
        st.caption(f"Read from the {source.orders_from}; times in {console.tz.key}.")
    fills_out = fetched["fills"]
    st.markdown("**Fills**")
    if not fills_out.ok:
        panel_error("fills", fills_out)
    elif fills_out.value:
        st.dataframe(fill_rows(fills_out.value, console.tz), hide_index=True, width="stretch")
    else:
        st.info("No fills match these filters." if _any_filter() else "No fills yet.")


def _any_filter() -> bool:
    return any(
        st.session_state.get(k) for k in ("orders_symbol", "orders_status", "orders_strategy", "orders_today")
    )


def order_time(order: dict[str, Any]) -> datetime | None:
    return when(order.get("created_at"))
