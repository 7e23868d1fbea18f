"""Risk: the governor's controls (halt, reduce-only, resume, reset a latched trip, acknowledge
a reconciliation latch; each asks for a reason), the limits and their use, the history of
changes and refusals.

Every control goes through the API with the console's server-side bearer token:
``POST /kill-switch`` for the governor's state, ``POST /portfolio/reconcile/acknowledge``
(``who`` = the operator, ``why`` = the reason) when a difference between book and broker
latched REDUCING with ``reconcile:<kind> <symbol>``. An answer the API refuses (a latched
governor asked to resume, a blank reason) is shown as the API's one-line problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from app.ui.client import Outcome
from app.ui.common import Console, panel_error, to_local

__all__ = [
    "ACTIONS",
    "RECONCILE_PREFIX",
    "Action",
    "action_body",
    "limit_rows",
    "offered_actions",
    "render_risk",
    "risk_calls",
]

RECONCILE_PREFIX = "reconcile:"
"""The latch reason of a difference between book and broker no order explains."""


@dataclass(frozen=True, slots=True)
class Action:
    label: str
    body: Mapping[str, Any]  # what the API receives besides the reason and the operator
    done: str
    path: str = "/kill-switch"


ACTIONS: dict[str, Action] = {
    "halt": Action("Halt trading", {"state": "HALTED"}, "trading HALTED"),
    "reduce": Action("Reduce only", {"state": "REDUCING"}, "trading REDUCING: only orders that reduce"),
    "resume": Action("Resume trading", {"state": "ACTIVE"}, "trading ACTIVE"),
    "reset": Action("Reset latched trip", {"reset": True}, "latch cleared: trading ACTIVE"),
    "acknowledge": Action(
        "Acknowledge reconciliation",
        {},
        "reconciliation acknowledged: the book takes the broker's figures, latch cleared",
        path="/portfolio/reconcile/acknowledge",
    ),
}


def offered_actions(state: str, latched_reason: str | None) -> list[str]:
    """The controls that make sense in ``state``: never the state it is already in; a latched
    governor offers reset instead of resume (the API refuses to resume it), and a latch by
    reconciliation offers acknowledging the broker's figures first."""
    offered = [name for name, target in (("halt", "HALTED"), ("reduce", "REDUCING")) if state != target]
    if latched_reason and latched_reason.startswith(RECONCILE_PREFIX):
        offered.extend(["acknowledge", "reset"])
    elif latched_reason:
        offered.append("reset")
    elif state != "ACTIVE":
        offered.append("resume")
    return offered


def action_body(action: str, reason: str, actor: str) -> dict[str, Any]:
    """The body the API receives for ``action`` (``POST /kill-switch``, or ``who``/``why`` for
    acknowledging a reconciliation); a blank reason is refused here already."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not reason.strip():
        raise ValueError("a reason is required")
    if action == "acknowledge":
        return {"who": actor.strip() or "console", "why": reason.strip()}
    return {**ACTIONS[action].body, "reason": reason.strip(), "actor": actor.strip() or "console"}


def risk_calls(console: Console) -> dict[str, Callable[[], Any]]:
    api = console.api
    return {
        "kill_switch": lambda: api.get("/kill-switch"),
        "history": lambda: api.get("/risk/kill-switch/history", limit=100),
        "limits": lambda: api.get("/risk/limits"),
    }


def limit_rows(guard_limits: Mapping[str, Any] | None, use: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The order guard's per-order limits, then the governor's portfolio limits with their use now."""
    rows: list[dict[str, Any]] = []
    for item in (guard_limits or {}).get("items", []):
        rows.append(
            {
                "limit": item["name"],
                "value": item["value"],
                "now": None,
                "use": None,
                "setting": item["setting"],
                "meaning": item["description"],
            }
        )
    for item in (use or {}).get("items", []):
        rows.append(
            {
                "limit": item["name"],
                "value": item["limit"],
                "now": item["measure"],
                "use": item["use"],
                "setting": item["setting"],
                "meaning": item["description"] + (f" ({item['symbol']})" if item.get("symbol") else ""),
            }
        )
    return rows


def _controls(console: Console, state: str, latched: str | None) -> None:
    st.markdown("**Controls**")
    if latched and latched.startswith(RECONCILE_PREFIX):
        st.warning(
            f"The book differs from the broker ({latched.removeprefix(RECONCILE_PREFIX)}) and no order "
            "explains it. Acknowledging sets the book to the broker's figures and clears the latch; "
            "it records the operator and the reason.",
            icon=":material/balance:",
        )
    offered = offered_actions(state, latched)
    with st.form("risk_action"):
        reason = st.text_input("Reason (required)", key="risk_reason", max_chars=500)
        actor = st.text_input("Operator", key="risk_actor", value="console", max_chars=128)
        cols = st.columns(len(offered))
        pressed = [
            name
            for col, name in zip(cols, offered, strict=True)
            if col.form_submit_button(ACTIONS[name].label, type="primary" if name == "halt" else "secondary")
        ]
    if not pressed:
        return
    try:
        body = action_body(pressed[0], reason, actor)
    except ValueError as exc:
        st.error(f"{str(exc).capitalize()}.")
        return
    action = ACTIONS[pressed[0]]
    result = console.fetch({"set": lambda: console.api.post(action.path, body)})["set"]
    if result.ok:
        st.session_state["risk_done"] = action.done
        st.rerun()
    else:
        panel_error("governor change", result)


def render_risk(console: Console, fetched: dict[str, Outcome]) -> None:
    st.subheader("Risk")
    done = st.session_state.pop("risk_done", None)
    if done:
        st.success(f"Done: {done}.")
    switch = fetched["kill_switch"]
    if not switch.ok:
        panel_error("kill switch", switch)
    else:
        value = switch.value
        state = "HALTED" if value["active"] else str(value.get("state") or "ACTIVE")
        cols = st.columns(4)
        cols[0].metric("Trading", state)
        cols[1].metric("Latched by", value.get("latched_reason") or "-")
        cols[2].metric("Refused orders", value.get("trips_total", 0))
        cols[3].metric("Since", to_local(value.get("updated_at"), console.tz, "%m-%d %H:%M") or "-")
        if value.get("trips"):
            st.dataframe(
                pd.DataFrame(
                    [{"reason": k, "refused": v} for k, v in sorted(value["trips"].items())],
                    columns=["reason", "refused"],
                ),
                hide_index=True,
                width="stretch",
            )
        _controls(console, state, value.get("latched_reason"))
    st.markdown("**Limits and their use**")
    limits = fetched["limits"]
    status = fetched.get("status")
    use = status.value.get("limits") if status is not None and status.ok else None
    if not limits.ok:
        panel_error("limits", limits)
    if use and use.get("error"):
        st.caption(f"limit use unavailable: {use['error']}")
    rows = limit_rows(limits.value if limits.ok else None, use)
    if rows:
        st.dataframe(
            pd.DataFrame(rows, columns=["limit", "value", "now", "use", "setting", "meaning"]),
            hide_index=True,
            width="stretch",
            column_config={
                "value": st.column_config.NumberColumn(format="%.4g"),
                "now": st.column_config.NumberColumn(format="%.4g"),
                "use": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0),
            },
        )
        st.caption(
            "value empty: not enforced. use: the book now as the governor measures it (1.0 = at the limit)."
        )
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
