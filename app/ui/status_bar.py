"""The status bar on every page: trading state banner, consumer lag, schedule, sweeps, data as-of."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.ui.client import Outcome
from app.ui.common import EXCHANGE_TZ, Console, to_local, when

__all__ = ["BANNER_COLOURS", "LimitBar", "limit_bars", "render_status_bar"]

BANNER_COLOURS = {
    "ACTIVE": ("#1b5e20", "#e8f5e9"),
    "REDUCING": ("#8a5300", "#fff3e0"),
    "HALTED": ("#ffffff", "#c62828"),
    "UNKNOWN": ("#37474f", "#eceff1"),
}
"""(text, background) per trading state: green active, amber reducing, red halted."""

_MEANING = {
    "ACTIVE": "orders flow",
    "REDUCING": "only orders that reduce exposure",
    "HALTED": "every order is refused",
    "UNKNOWN": "state unknown",
}


def _banner(console: Console, status: Outcome) -> None:
    trading: dict[str, Any] = status.value["trading"] if status.ok else {}
    state = str(trading.get("state") or "UNKNOWN")
    fg, bg = BANNER_COLOURS.get(state, BANNER_COLOURS["UNKNOWN"])
    parts = [f"<b>{html.escape(state)}</b> · {_MEANING.get(state, '')}"]
    if not status.ok:
        parts.append(html.escape(f"status unavailable: {status.error}"))
    elif trading.get("error"):
        parts.append(html.escape(f"kill switch unreadable: {trading['error']}"))
    if trading.get("latched_reason"):
        latched = str(trading["latched_reason"])
        parts.append("latched by " + html.escape(latched))
        if latched.startswith("reconcile:"):
            parts.append("book differs from the broker: acknowledge it on the Risk page")
    if trading.get("reason"):
        parts.append("reason: " + html.escape(str(trading["reason"])))
    if trading.get("actor"):
        parts.append("by " + html.escape(str(trading["actor"])))
    if trading.get("since"):
        parts.append("since " + html.escape(to_local(trading["since"], console.tz, "%Y-%m-%d %H:%M")))
    st.markdown(
        f'<div class="trading-banner" data-state="{html.escape(state)}" style="background:{bg};color:{fg};'
        f'padding:0.45rem 0.8rem;border-radius:0.4rem;margin-bottom:0.3rem">{" · ".join(parts)}</div>',
        unsafe_allow_html=True,
    )


LIMIT_LABELS = {
    "max_symbol_weight": "symbol weight",
    "max_gross_exposure": "gross exposure",
    "max_open_positions": "open positions",
    "daily_loss": "daily loss",
    "max_drawdown": "drawdown",
    "max_open_orders": "open orders",
}
BAR_COLOURS = {"ok": "#2e7d32", "near": "#ef8f00", "over": "#c62828"}


@dataclass(frozen=True, slots=True)
class LimitBar:
    name: str
    label: str
    use: float  # fraction of the limit (may exceed 1)
    text: str  # measure / limit as shown
    level: str  # ok, near (>= 80 %) or over (>= 100 %)


def _figure(name: str, value: float) -> str:
    if name in ("max_symbol_weight", "max_drawdown"):
        return f"{value:.1%}"
    if name == "max_gross_exposure":
        return f"{value:.2f}x"
    if name == "daily_loss":
        return f"{value:,.0f}"
    return f"{value:g}"


def limit_bars(limits: Mapping[str, Any]) -> list[LimitBar]:
    """One bar per enforced limit, from ``/status``'s ``limits`` (limits not set are left out)."""
    bars = []
    for item in limits.get("items", []):
        if item.get("limit") is None or item.get("use") is None:
            continue
        name, use = str(item["name"]), float(item["use"])
        text = f"{_figure(name, float(item['measure']))} / {_figure(name, float(item['limit']))}"
        if item.get("symbol"):
            text += f" ({item['symbol']})"
        level = "over" if use >= 1.0 else "near" if item.get("near") or use >= 0.8 else "ok"
        bars.append(LimitBar(name, LIMIT_LABELS.get(name, name), use, text, level))
    return bars


def _limits(value: dict[str, Any]) -> None:
    limits = value.get("limits")
    if not limits:
        return
    if limits.get("error"):
        st.caption(f"limit use unavailable: {limits['error']}")
        return
    bars = limit_bars(limits)
    if not bars:
        st.caption("no portfolio limits set (RISK_* settings)")
        return
    cells = []
    for bar in bars:
        width = min(max(bar.use, 0.0), 1.0) * 100
        cells.append(
            f'<div class="limit-bar" data-limit="{html.escape(bar.name)}" data-use="{bar.use:.6f}" '
            f'data-level="{bar.level}" style="flex:1 1 150px;min-width:130px;font-size:0.8rem">'
            f"<div>{html.escape(bar.label)} <b>{bar.use:.0%}</b> · {html.escape(bar.text)}</div>"
            f'<div style="background:#e0e0e0;border-radius:3px;height:6px">'
            f'<div style="width:{width:.1f}%;background:{BAR_COLOURS[bar.level]};'
            f'height:6px;border-radius:3px">'
            f"</div></div></div>"
        )
    st.markdown(
        f'<div class="limit-bars" style="display:flex;flex-wrap:wrap;gap:0.6rem;margin:0.2rem 0 0.3rem 0">'
        f"{''.join(cells)}</div>",
        unsafe_allow_html=True,
    )


def _consumers(value: dict[str, Any]) -> str:
    section = value["consumers"]
    if section.get("error"):
        return f"consumers: {section['error']}"
    texts = []
    for item in section["items"]:
        if item["state"] == "never_ran":
            texts.append(f"{item['name']}: not started")
        elif item["lag_seconds"] is None:
            texts.append(f"{item['name']}: {item['state']}")
        else:
            mark = "" if item["healthy"] else " ⚠"
            texts.append(f"{item['name']} lag {item['lag_seconds']:.1f} s{mark}")
    return " · ".join(texts) or "no consumers"


def _scheduler(console: Console, value: dict[str, Any]) -> str:
    section = value["scheduler"]
    if section.get("error"):
        return f"schedule: {section['error']}"
    last, upcoming = section.get("last"), section.get("next")
    text = []
    if last:
        text.append(f"last {last['job']} {last['status']}")
    if upcoming:
        due = when(upcoming["due"])
        text.append(f"next {upcoming['job']} {due.astimezone(EXCHANGE_TZ):%a %H:%M} ET" if due else "")
    return "schedule: " + (" · ".join(t for t in text if t) or "nothing scheduled")


def _sweeps(value: dict[str, Any]) -> str:
    section = value["sweeps"]
    if section.get("error"):
        return f"sweeps: {section['error']}"
    counts = section.get("counts", {})
    text = (
        f"sweeps {section['health']} ({counts.get('queued', 0)} queued, {counts.get('running', 0)} running)"
    )
    return text + (" ⚠" if section["health"] == "stalled" else "")


def _data(console: Console, value: dict[str, Any]) -> str:
    section = value["data"]
    newest = section.get("newest_order_at")
    text = f"as of {to_local(section['as_of'], console.tz, '%H:%M:%S')}"
    if newest:
        text += f" · last order {to_local(newest, console.tz, '%m-%d %H:%M:%S')}"
    return text


def render_status_bar(console: Console, status: Outcome) -> None:
    """Render the bar from the ``/status`` outcome (fetched with the page's other sources)."""
    _banner(console, status)
    if not status.ok:
        return
    value: dict[str, Any] = status.value
    _limits(value)
    line = " | ".join([_consumers(value), _scheduler(console, value), _sweeps(value), _data(console, value)])
    st.caption(line)
