"""The ai-trader operator console (Streamlit). Run with ``ai-trader ui``; served under ``/ui/``.

Every page starts with the status bar; the bar and the page's panels are fetched from the API
in one concurrent batch with a short timeout, and re-fetched every ``UI_REFRESH_S`` seconds
(pausable in the sidebar) without reloading the page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import streamlit as st

from app.backtest.frames import BlobFrames, frames_blob_enabled
from app.config import Settings, load_settings
from app.errors import ConfigError
from app.ui.auth import verify_password
from app.ui.client import ConsoleApi, build_api
from app.ui.common import Console, browser_zone
from app.ui.sources import DashboardSource, build_source
from app.ui.status_bar import render_status_bar
from app.ui.views.backtests import backtests_calls, render_backtests
from app.ui.views.frame_viewer import render_frame_viewer
from app.ui.views.orders import orders_calls, render_orders
from app.ui.views.risk import render_risk, risk_calls
from app.ui.views.schedule import render_schedule, schedule_calls

PAGES = ("Orders", "Backtests", "Frames", "Risk", "Schedule")


@st.cache_resource(show_spinner=False)
def _resources(identity: str, _settings: Settings) -> tuple[ConsoleApi, DashboardSource]:
    """One API client (and connection pool) and one order source per configuration."""
    api = build_api(_settings)
    return api, build_source(_settings, api)


@st.cache_resource(show_spinner=False)
def _frames_blob(identity: str, _settings: Settings) -> BlobFrames:
    """One blob client per configuration, kept across reruns (an Azure login per click is slow)."""
    return BlobFrames.from_settings(_settings)


def _identity(settings: Settings) -> str:
    token = settings.API_BEARER_TOKEN.get_secret_value() if settings.API_BEARER_TOKEN else ""
    database = settings.DATABASE_URL.get_secret_value() if settings.DATABASE_URL else ""
    digest = hashlib.sha256(f"{token}\0{database}".encode()).hexdigest()[:16]
    return f"{settings.API_BASE_URL or settings.api_port}:{digest}"


def _login(settings: Settings) -> bool:
    """True when no login is configured or the operator has signed in this session."""
    stored = settings.UI_OPERATOR_PASSWORD_HASH
    if stored is None or st.session_state.get("operator_signed_in"):
        return True
    st.title("ai-trader")
    with st.form("login"):
        password = st.text_input("Operator password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            ok = verify_password(password, stored.get_secret_value())
        except ConfigError as exc:
            st.error(str(exc))
            return False
        if ok:
            st.session_state["operator_signed_in"] = True
            st.session_state.pop("login_password", None)
            st.rerun()
        st.error("Wrong password.")
    return False


def _page() -> str:
    if "page" not in st.session_state:
        asked = str(st.query_params.get("page", "")).capitalize()
        st.session_state["page"] = asked if asked in PAGES else PAGES[0]
    page = st.radio("Page", PAGES, horizontal=True, key="page", label_visibility="collapsed")
    if st.query_params.get("page") != page.lower():
        st.query_params["page"] = page.lower()
    return str(page)


def _sidebar(settings: Settings) -> float | None:
    with st.sidebar:
        st.markdown("**Refresh**")
        auto = st.toggle("Auto-refresh", value=True, key="auto_refresh")
        every = st.number_input(
            "Every (s)", min_value=1.0, max_value=3600.0, value=float(settings.UI_REFRESH_S), key="refresh_s"
        )
        if settings.UI_OPERATOR_PASSWORD_HASH is not None and st.button("Sign out"):
            st.session_state.clear()
            st.rerun()
    return float(every) if auto else None


def _calls(page: str, console: Console, source: DashboardSource) -> dict[str, Callable[[], Any]]:
    if page == "Orders":
        return orders_calls(console, source)
    if page == "Backtests":
        return backtests_calls(console)
    if page == "Risk":
        return risk_calls(console)
    if page == "Schedule":
        return schedule_calls(console)
    return {}


def main() -> None:
    st.set_page_config(page_title="ai-trader console", layout="wide")
    settings = load_settings()
    if not _login(settings):
        return
    api, source = _resources(_identity(settings), settings)
    refresh_s = _sidebar(settings)
    st.title("ai-trader")
    page = _page()

    def live() -> None:
        console = Console(settings=settings, api=api, tz=browser_zone())
        fetched = console.fetch({"status": lambda: api.get("/status"), **_calls(page, console, source)})
        render_status_bar(console, fetched["status"])
        if page == "Orders":
            render_orders(console, source, fetched)
        elif page == "Backtests":
            render_backtests(console, fetched)
        elif page == "Risk":
            render_risk(console, fetched)
        elif page == "Schedule":
            render_schedule(console, fetched)

    st.fragment(live, run_every=refresh_s)()
    if page == "Frames":
        blob = _frames_blob(BlobFrames.from_settings(settings).identity, settings)
        render_frame_viewer(settings.frames_dir, blob, frames_blob_enabled(settings))


main()
