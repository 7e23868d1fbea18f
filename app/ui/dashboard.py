"""The ai-trader operator console (Streamlit). Run with ``ai-trader ui``; served under ``/ui/``.

Every page starts with the status bar; the bar and the page's panels are fetched from the API
in one concurrent batch with a short timeout, and re-fetched every ``UI_REFRESH_S`` seconds
(pausable in the sidebar) without reloading the page.

Streamlit re-runs this script on every interaction; the process's clients (API connection
pool, database pool, blob store) live in one :class:`~app.bootstrap.Container` per
configuration, kept across reruns with ``st.cache_resource``, so a rerun opens no new engine,
blob login or connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import streamlit as st
from pydantic import SecretStr

from app.backtest.frames import frames_blob_enabled
from app.bootstrap import Container
from app.config import Settings, load_settings
from app.errors import ConfigError
from app.ui.auth import verify_password
from app.ui.client import ConsoleApi, build_api
from app.ui.common import Console, browser_zone
from app.ui.sources import DashboardSource, build_source
from app.ui.status_bar import render_status_bar
from app.ui.views.backtests import backtests_calls, render_backtests
from app.ui.views.frame_viewer import render_frame_viewer
from app.ui.views.models import models_calls, render_models
from app.ui.views.orders import orders_calls, render_orders
from app.ui.views.portfolio import portfolio_calls, render_portfolio
from app.ui.views.risk import render_risk, risk_calls
from app.ui.views.schedule import render_schedule, schedule_calls

PAGES = ("Portfolio", "Orders", "Backtests", "Frames", "Risk", "Models", "Schedule")


def settings_fingerprint(settings: Settings) -> str:
    """A digest of every setting (secrets included, never shown): one container per distinct value."""
    digest = hashlib.sha256()
    for name, value in sorted(settings):
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        digest.update(f"{name}={plain!r}\n".encode())
    return digest.hexdigest()


@st.cache_resource(show_spinner=False)
def _resources(fingerprint: str, _settings: Settings) -> tuple[Container, ConsoleApi, DashboardSource]:
    """The process's container, API client (one connection pool) and order source for one
    configuration, kept across reruns."""
    container = Container(_settings)
    api = build_api(_settings)
    return container, api, build_source(container, api)


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
    if page == "Portfolio":
        return portfolio_calls(console)
    if page == "Orders":
        return orders_calls(console, source)
    if page == "Backtests":
        return backtests_calls(console)
    if page == "Risk":
        return risk_calls(console)
    if page == "Schedule":
        return schedule_calls(console)
    if page == "Models":
        return models_calls(console)
    return {}


def main() -> None:
    st.set_page_config(page_title="ai-trader console", layout="wide")
    settings = load_settings()
    if not _login(settings):
        return
    container, api, source = _resources(settings_fingerprint(settings), settings)
    refresh_s = _sidebar(settings)
    st.title("ai-trader")
    page = _page()

    def live() -> None:
        console = Console(settings=settings, api=api, tz=browser_zone())
        fetched = console.fetch({"status": lambda: api.get("/status"), **_calls(page, console, source)})
        render_status_bar(console, fetched["status"])
        if page == "Portfolio":
            render_portfolio(console, fetched)
        elif page == "Orders":
            render_orders(console, source, fetched)
        elif page == "Backtests":
            render_backtests(console, fetched)
        elif page == "Risk":
            render_risk(console, fetched)
        elif page == "Schedule":
            render_schedule(console, fetched)
        elif page == "Models":
            render_models(console, fetched)

    st.fragment(live, run_every=refresh_s)()
    if page == "Frames":
        render_frame_viewer(settings.frames_dir, container.blob_frames, frames_blob_enabled(settings))


main()
