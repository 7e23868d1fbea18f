"""The ai-trader dashboard (Streamlit). Run with ``ai-trader ui``; served under ``/ui/``.

Streamlit re-runs this script on every interaction; the process's clients (database pool,
blob store) live in one :class:`~app.bootstrap.Container` per configuration, kept across
reruns with ``st.cache_resource``, so a rerun opens no new engine or blob login.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from pydantic import SecretStr

from app.backtest.frames import BlobFrames, frames_blob_enabled
from app.bootstrap import Container
from app.config import Settings, load_settings
from app.errors import AiTraderError
from app.ui.frames import load_entry, load_frame, merge_manifests, read_manifest, summarize
from app.ui.sources import DashboardSource, build_source


def _table(rows: list[dict[str, Any]], empty: str) -> None:
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.info(empty)


def _guarded(what: str, fn: Any) -> Any:
    try:
        return fn()
    except AiTraderError as exc:
        st.warning(f"{what} unavailable: {exc}")
        return None


def settings_fingerprint(settings: Settings) -> str:
    """A digest of every setting (secrets included, never shown): one container per distinct value."""
    digest = hashlib.sha256()
    for name, value in sorted(settings):
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        digest.update(f"{name}={plain!r}\n".encode())
    return digest.hexdigest()


@st.cache_resource(show_spinner=False)
def _container(fingerprint: str, _settings: Settings) -> Container:
    """The process's container for one configuration, kept across reruns (no engine or Azure
    login per click)."""
    return Container(_settings)


def health_section(source: DashboardSource) -> None:
    health = _guarded("health", source.health)
    if health is None:
        return
    cols = st.columns(max(1, len(health.get("checks", {}))))
    for col, (name, check) in zip(cols, health.get("checks", {}).items(), strict=False):
        col.metric(name, check["status"], help=check.get("reason") or None)


def orders_tab(source: DashboardSource) -> None:
    st.caption(f"Orders and fills read from the {source.orders_from}.")
    left, right = st.columns(2)
    symbol = left.text_input("Symbol filter", key="orders_symbol").strip().upper() or None
    status = right.selectbox(
        "Status filter",
        ["", "new", "accepted", "partially_filled", "filled", "canceled", "rejected", "expired"],
        key="orders_status",
        format_func=lambda value: value or "any",
    )
    orders = _guarded("orders", lambda: source.orders(limit=100, symbol=symbol, status=status or None))
    st.subheader("Orders")
    _table(orders or [], "No orders yet.")
    fills = _guarded("fills", lambda: source.fills(limit=100, symbol=symbol))
    st.subheader("Fills")
    _table(fills or [], "No fills yet.")


def sweeps_tab(
    source: DashboardSource, manifest_path: Path, blob: BlobFrames | None = None, list_blob: bool = False
) -> None:
    jobs = _guarded("sweep jobs", source.sweep_jobs)
    if jobs is not None:
        counts = jobs.get("counts", {})
        cols = st.columns(5)
        for col, name in zip(cols, ("queued", "dispatched", "running", "completed", "failed"), strict=True):
            col.metric(name, counts.get(name, 0))
        _table(jobs.get("items", jobs.get("jobs", [])), "No sweep jobs yet.")
    with st.expander("Probabilistic Frame Viewer", expanded=True):
        frame_viewer(manifest_path, blob, list_blob)


def frame_viewer(manifest_path: Path, blob: BlobFrames | None, list_blob: bool) -> None:
    """List this host's manifest merged with the blob manifest; show the chosen frame."""
    remote: list[dict[str, Any]] = []
    if blob is not None and list_blob:
        remote = _guarded("blob frame manifest", blob.records) or []
    entries = merge_manifests(read_manifest(manifest_path), remote)
    labels = ["(paste a path below)"] + [
        f"{e.get('created_at', '?')} · {e.get('source', '?')} · {e.get('symbol', '?')} "
        f"{e.get('strategy', '?')} {e.get('vendor', '?')} {e.get('interval', '?')} · {e['origin']}"
        for e in entries
    ]
    choice = st.selectbox("Frame", range(len(labels)), format_func=lambda i: labels[i], key="frame_choice")
    manual = st.text_input("Frame path (.parquet or blob://<container>/<key>)", key="frame_path").strip()
    if not manual and not choice:
        where = f"{manifest_path}" + (
            f" and blob://{blob.container}/{blob.manifest_prefix}" if list_blob and blob else ""
        )
        st.info(f"No frame selected. Frames are listed from {where}.")
        return
    try:
        if manual:
            frame, path = load_frame(manual, base=manifest_path.parent, blob=blob), manual
        else:
            frame, path = load_entry(entries[choice - 1], base=manifest_path.parent, blob=blob)
    except AiTraderError as exc:
        st.error(str(exc))
        return
    summary = summarize(frame)
    st.write(
        {"path": path, "rows": summary.rows, "start": summary.start, "end": summary.end},
    )
    st.caption("Columns: " + ", ".join(summary.columns))
    if "equity" in frame.columns:
        st.line_chart(frame["equity"])
    st.dataframe(frame.tail(20), width="stretch")


def risk_tab(source: DashboardSource) -> None:
    state = _guarded("kill switch", source.kill_switch)
    if state is None:
        return
    st.metric("Kill switch", "ACTIVE" if state["active"] else "off")
    if state.get("reason"):
        st.write(f"Reason: {state['reason']} (by {state.get('actor')}, {state.get('updated_at')})")
    st.write({"trips_total": state.get("trips_total", 0), **state.get("trips", {})})


def main() -> None:
    st.set_page_config(page_title="ai-trader", layout="wide")
    settings = load_settings()
    container = _container(settings_fingerprint(settings), settings)
    source = build_source(container)
    st.title("ai-trader")
    health_section(source)
    orders, sweeps, risk = st.tabs(["Router Orders", "Backtest Sweeps", "Risk"])
    with orders:
        orders_tab(source)
    with sweeps:
        sweeps_tab(
            source,
            settings.frames_dir / "manifest.jsonl",
            container.blob_frames,
            frames_blob_enabled(settings),
        )
    with risk:
        risk_tab(source)


main()
