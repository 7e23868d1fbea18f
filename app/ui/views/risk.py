"""Risk: halt and resume (each with a reason), limits, the history of changes and refusals.

The governor of the portfolio work adds reduce-only and reset-latched; their buttons appear
when ``/status`` reports the actions it accepts (``trading.actions``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from app.ui.client import Outcome
from app.ui.common import Console, panel_error, to_local

__all__ = ["ACTIONS", "render_risk", "risk_calls"]

ACTIONS: dict[str, tuple[str, bool]] = {
    "halt": ("Halt trading", True),
    "resume": ("Resume trading", False),
}
"""Action -> (button label, the kill switch's ``active`` value it sets)."""


def risk_calls(console: Console) -> dict[str, Callable[[], Any]]:
    api = console.api
    return {
        "kill_switch": lambda: api.get("/risk/kill-switch"),
        "history": lambda: api.get("/risk/kill-switch/history", limit=100),
        "limits": lambda: api.get("/risk/limits"),
    }


def _controls(console: Console, state: str) -> None:
    st.markdown("**Controls**")
    offered = ["resume"] if state == "HALTED" else ["halt"]
    with st.form("risk_action"):
        reason = st.text_input("Reason (required)", key="risk_reason", max_chars=500)
        actor = st.text_input("Operator", key="risk_actor", value="console", max_chars=128)
        pressed = [name for name in offered if st.form_submit_button(ACTIONS[name][0], type="primary")]
    if not pressed:
        return
    if not reason.strip():
        st.error("A reason is required.")
        return
    active = ACTIONS[pressed[0]][1]
    body = {"active": active, "reason": reason.strip(), "actor": actor.strip() or "console"}
    result = console.fetch({"set": lambda: console.api.post("/risk/kill-switch", body)})["set"]
    if result.ok:
        st.success(f"Kill switch {'on: trading HALTED' if active else 'off: trading ACTIVE'}.")
        st.rerun()
    else:
        panel_error("kill switch change", result)


def render_risk(console: Console, fetched: dict[str, Outcome]) -> None:
    st.subheader("Risk")
    switch = fetched["kill_switch"]
    if not switch.ok:
        panel_error("kill switch", switch)
    else:
        value = switch.value
        state = "HALTED" if value["active"] else "ACTIVE"
        cols = st.columns(3)
        cols[0].metric("Trading", state)
        cols[1].metric("Refused orders", value.get("trips_total", 0))
        cols[2].metric("Since", to_local(value.get("updated_at"), console.tz, "%m-%d %H:%M") or "-")
        if value.get("trips"):
            st.dataframe(
                pd.DataFrame(
                    [{"reason": k, "refused": v} for k, v in sorted(value["trips"].items())],
                    columns=["reason", "refused"],
                ),
                hide_index=True,
                width="stretch",
            )
        _controls(console, state)
    st.markdown("**Limits**")
    limits = fetched["limits"]
    if not limits.ok:
        panel_error("limits", limits)
    else:
        rows = [
            {
                "limit": item["name"],
                "value": "not enforced" if item["value"] is None else f"{item['value']:,.2f}",
                "setting": item["setting"],
                "meaning": item["description"],
            }
            for item in limits.value["items"]
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.markdown("**History of changes and refusals**")
    history = fetched["history"]
    if not history.ok:
        panel_error("kill switch history", history)
    elif history.value["items"]:
        rows = [
            {
                "when": to_local(item["ts"], console.tz),
                "kind": "change" if item["kind"] == "set" else "refusal",
                "what": item["reason"],
                "symbol": item.get("symbol") or "",
                "by": item.get("actor") or "",
                "detail": item.get("detail") or "",
            }
            for item in history.value["items"]
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.info("No kill-switch changes or refusals yet.")
