"""The status bar on every page: trading state banner, consumer lag, schedule, sweeps, data as-of."""

from __future__ import annotations

import html
from typing import Any

import streamlit as st

from app.ui.client import Outcome
from app.ui.common import EXCHANGE_TZ, Console, to_local, when

__all__ = ["BANNER_COLOURS", "render_status_bar"]

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
    line = " | ".join([_consumers(value), _scheduler(console, value), _sweeps(value), _data(console, value)])
    st.caption(line)
