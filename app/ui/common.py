"""What every console page shares: the run's context, time formatting, the one-line panel error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from app.config import Settings
from app.ui.client import DEADLINE_MARGIN_S, ConsoleApi, Outcome, fetch_all

__all__ = [
    "EXCHANGE_TZ",
    "STATUS_COLOURS",
    "Console",
    "panel_error",
    "to_local",
    "when",
]

EXCHANGE_TZ = ZoneInfo("America/New_York")

STATUS_COLOURS = {
    "filled": "#1b7f3b",
    "completed": "#1b7f3b",
    "ok": "#1b7f3b",
    "partially_filled": "#b26a00",
    "accepted": "#1f5fbf",
    "new": "#1f5fbf",
    "queued": "#1f5fbf",
    "dispatched": "#1f5fbf",
    "running": "#b26a00",
    "pending": "#666666",
    "due": "#b26a00",
    "skipped": "#666666",
    "canceled": "#666666",
    "expired": "#666666",
    "rejected": "#c62828",
    "failed": "#c62828",
    "error": "#c62828",
}


@dataclass
class Console:
    """One script run: the settings, the API client, the operator's time zone, fetched sources."""

    settings: Settings
    api: ConsoleApi
    tz: ZoneInfo
    fetched: dict[str, Outcome] = field(default_factory=dict)

    def fetch(self, calls: Mapping[str, Callable[[], Any]]) -> dict[str, Outcome]:
        """Fetch ``calls`` concurrently (one timeout for all) and keep them for this run."""
        results = fetch_all(calls, self.api.timeout_s + DEADLINE_MARGIN_S)
        self.fetched.update(results)
        return results


def browser_zone() -> ZoneInfo:
    """The operator's browser time zone when Streamlit knows it, else the exchange's."""
    name = getattr(st.context, "timezone", None)
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return EXCHANGE_TZ


def when(value: Any) -> datetime | None:
    """An ISO text or datetime as an aware datetime (naive means UTC); ``None`` when absent."""
    if value in (None, ""):
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def to_local(value: Any, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    stamp = when(value)
    return stamp.astimezone(tz).strftime(fmt) if stamp is not None else ""


def panel_error(what: str, outcome: Outcome) -> None:
    """The one message a panel shows when its source failed."""
    st.error(f"{what} unavailable: {outcome.error}", icon=":material/cloud_off:")


def coloured(frame: pd.DataFrame, column: str) -> Any:
    """``frame`` styled with ``column`` coloured by status."""

    def paint(value: Any) -> str:
        colour = STATUS_COLOURS.get(str(value))
        return f"color: {colour}; font-weight: 600" if colour else ""

    return frame.style.map(paint, subset=[column])
