"""Schedule: the session's jobs on the exchange clock (ET and PT) with status, duration and output."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from app.ui.client import Outcome
from app.ui.common import Console, coloured, panel_error, to_local

__all__ = ["render_schedule", "schedule_calls", "schedule_rows"]


def _asked_day() -> date | None:
    """The date input's day, else ``?day=YYYY-MM-DD`` in the URL, else ``None`` (today)."""
    chosen = st.session_state.get("schedule_day")
    if isinstance(chosen, date):
        return chosen
    try:
        return date.fromisoformat(str(st.query_params.get("day", "")))
    except ValueError:
        return None


def schedule_calls(console: Console) -> dict[str, Callable[[], Any]]:
    day = _asked_day()
    return {"schedule": lambda: console.api.get("/schedule/day", day=day.isoformat() if day else None)}


def _output(item: dict[str, Any]) -> str:
    output = {k: v for k, v in (item.get("output") or {}).items() if k != "duration_s"}
    return json.dumps(output, default=str)[:160] if output else ""


def schedule_rows(jobs: list[dict[str, Any]], tz: Any) -> pd.DataFrame:
    rows = [
        {
            "ET": to_local(j["due_et"], _zone("America/New_York"), "%H:%M"),
            "PT": to_local(j["due_pt"], _zone("America/Los_Angeles"), "%H:%M"),
            "job": j["job"],
            "status": j["status"],
            "duration s": j.get("duration_s"),
            "finished": to_local(j.get("finished_at"), tz, "%H:%M:%S"),
            "output": _output(j),
            "what": j["description"],
        }
        for j in jobs
    ]
    return pd.DataFrame(
        rows, columns=["ET", "PT", "job", "status", "duration s", "finished", "output", "what"]
    )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def render_schedule(console: Console, fetched: dict[str, Outcome]) -> None:
    st.subheader("Schedule")
    st.date_input("Session", value=None, key="schedule_day", help="Empty: today in New York.")
    outcome = fetched["schedule"]
    if not outcome.ok:
        panel_error("schedule", outcome)
        return
    day = outcome.value
    if not day["is_session"]:
        st.info(f"{day['session']} is not an NYSE session: no jobs run.")
        return
    jobs = day["jobs"]
    counts = pd.Series([j["status"] for j in jobs]).value_counts().to_dict() if jobs else {}
    cols = st.columns(4)
    cols[0].metric("Jobs", len(jobs))
    cols[1].metric("Ok", counts.get("ok", 0))
    cols[2].metric("Failed", counts.get("error", 0))
    cols[3].metric("Pending", counts.get("pending", 0) + counts.get("due", 0))
    st.dataframe(coloured(schedule_rows(jobs, console.tz), "status"), hide_index=True, width="stretch")
    st.caption(f"Session {day['session']}; times on the exchange clock (ET) and Pacific (PT).")
