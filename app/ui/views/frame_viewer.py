"""Frame viewer: price with entries/exits and regime shading, prob and frac, equity and drawdown.

Only frames of the frames store are opened: files under ``frames_dir`` (the local
``artifacts/probabilistic/frames``) and blob URIs under the data container's frames prefix.
Anything else, or a file that is not a readable frame, is refused with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app.backtest.frames import BlobFrames
from app.errors import AiTraderError, InputError
from app.ui.frames import load_entry, load_frame, merge_manifests, read_manifest

__all__ = ["check_frame_path", "frame_metrics", "open_frame", "render_frame_viewer", "trade_marks"]

REGIME_COLOURS = {
    "trend_up_low_vol": "rgba(46, 125, 50, 0.08)",
    "trend_up_high_vol": "rgba(46, 125, 50, 0.16)",
    "trend_down_low_vol": "rgba(198, 40, 40, 0.08)",
    "trend_down_high_vol": "rgba(198, 40, 40, 0.16)",
    "range_low_vol": "rgba(120, 120, 120, 0.06)",
    "range_high_vol": "rgba(255, 160, 0, 0.12)",
}
"""Shading behind the price: green up-trends, red down-trends, grey calm ranges, amber choppy
ones (darker when volatile); warm-up bars are not shaded."""


def check_frame_path(raw: str, frames_dir: Path, blob: BlobFrames | None) -> str:
    """The path to open when it lies in the frames store; else :class:`InputError` (one line)."""
    text = raw.strip()
    if not text:
        raise InputError("no path given")
    if text.startswith("blob://"):
        container, _, key = text.removeprefix("blob://").partition("/")
        if blob is None:
            raise InputError("blob frames are not configured on this dashboard")
        if container != blob.container or not key.startswith(blob.prefix) or ".." in key.split("/"):
            raise InputError(
                f"refused: only frames under blob://{blob.container}/{blob.prefix} can be opened"
            )
        return text
    root = frames_dir.resolve()
    candidate = Path(text)
    candidate = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if candidate != root and root not in candidate.parents:
        raise InputError(f"refused: only frames under the frames store ({frames_dir.name}/) can be opened")
    if candidate.suffix != ".parquet":
        raise InputError("refused: a frame is a .parquet file")
    return str(candidate)


def open_frame(loader: Any) -> pd.DataFrame:
    """Run ``loader`` and turn any failure to read the file into one :class:`InputError` line."""
    try:
        frame = loader()
    except AiTraderError:
        raise
    except Exception as exc:  # pyarrow raises several types for a corrupt or foreign file
        raise InputError(f"not a readable frame ({type(exc).__name__})") from None
    if not isinstance(frame, pd.DataFrame) or "close" not in frame.columns:
        raise InputError("not a probabilistic frame: it has no close column")
    return frame


def trade_marks(frame: pd.DataFrame) -> tuple[pd.Index, pd.Index]:
    """Bars where a position opens (entries) and where one closes (exits)."""
    if "position" not in frame.columns:
        return pd.Index([]), pd.Index([])
    position = pd.to_numeric(frame["position"], errors="coerce").fillna(0.0).to_numpy()
    before = np.concatenate([[0.0], position[:-1]])
    entries = (position != 0) & (before == 0) | (np.sign(position) * np.sign(before) < 0)
    exits = (position == 0) & (before != 0)
    return frame.index[entries], frame.index[exits]


def frame_metrics(frame: pd.DataFrame) -> dict[str, float | int]:
    """Total return, max drawdown, exposure and trade count, computed from the frame itself."""
    metrics: dict[str, float | int] = {"bars": len(frame)}
    if "equity" in frame.columns and len(frame):
        equity = pd.to_numeric(frame["equity"], errors="coerce").dropna()
        if len(equity):
            peak = equity.cummax()
            metrics["total_return"] = float(equity.iloc[-1] / equity.iloc[0] - 1)
            metrics["max_drawdown"] = float((equity / peak - 1).min())
            metrics["final_equity"] = float(equity.iloc[-1])
    if "position" in frame.columns and len(frame):
        position = pd.to_numeric(frame["position"], errors="coerce").fillna(0.0)
        metrics["exposure"] = float((position != 0).mean())
        metrics["trades"] = len(trade_marks(frame)[0])
    return metrics


def _regime_spans(frame: pd.DataFrame) -> list[tuple[Any, Any, str]]:
    if "regime" not in frame.columns or not len(frame):
        return []
    regime = frame["regime"].astype(str)
    spans, start = [], 0
    for i in range(1, len(regime) + 1):
        if i == len(regime) or regime.iloc[i] != regime.iloc[start]:
            spans.append((frame.index[start], frame.index[i - 1], regime.iloc[start]))
            start = i
    return spans


def frame_figure(frame: pd.DataFrame) -> go.Figure:
    rows = 4 if "equity" in frame.columns else 2
    titles = ["price (entries ▲, exits ▼, regime shading)", "prob and frac", "equity", "drawdown"][:rows]
    figure = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=titles,
        row_heights=[0.4, 0.2, 0.2, 0.2][:rows],
    )
    figure.add_trace(go.Scatter(x=frame.index, y=frame["close"], name="close", line={"width": 1.4}), 1, 1)
    entries, exits = trade_marks(frame)
    if len(entries):
        figure.add_trace(
            go.Scatter(
                x=entries,
                y=frame.loc[entries, "close"],
                mode="markers",
                name="entry",
                marker={"symbol": "triangle-up", "size": 10, "color": "#1b7f3b"},
            ),
            1,
            1,
        )
    if len(exits):
        figure.add_trace(
            go.Scatter(
                x=exits,
                y=frame.loc[exits, "close"],
                mode="markers",
                name="exit",
                marker={"symbol": "triangle-down", "size": 10, "color": "#c62828"},
            ),
            1,
            1,
        )
    for start, end, name in _regime_spans(frame):
        colour = REGIME_COLOURS.get(name.lower())
        if colour:
            figure.add_vrect(x0=start, x1=end, fillcolor=colour, line_width=0, row=1, col=1)
    for column in ("prob", "frac"):
        if column in frame.columns:
            figure.add_trace(go.Scatter(x=frame.index, y=frame[column], name=column, line={"width": 1}), 2, 1)
    if rows == 4:
        equity = pd.to_numeric(frame["equity"], errors="coerce")
        drawdown = equity / equity.cummax() - 1
        figure.add_trace(go.Scatter(x=frame.index, y=equity, name="equity"), 3, 1)
        figure.add_trace(
            go.Scatter(x=frame.index, y=drawdown, name="drawdown", fill="tozeroy", line={"width": 0.8}), 4, 1
        )
        low, high = float(equity.min()), float(equity.max())
        pad = (high - low) * 0.05 or abs(high) * 0.001 or 1.0
        figure.update_yaxes(range=[low - pad, high + pad], row=3, col=1)  # fits the data, not from 0
        figure.update_yaxes(tickformat=".1%", row=4, col=1)
    figure.update_yaxes(autorange=True, rangemode="normal", row=1, col=1)
    figure.update_layout(height=820, margin={"l": 40, "r": 10, "t": 30, "b": 20}, legend={"orientation": "h"})
    return figure


def _label(entry: dict[str, Any]) -> str:
    return (
        f"{entry.get('created_at', '?')} · {entry.get('source', '?')} · {entry.get('symbol', '?')} "
        f"{entry.get('strategy', '?')} {entry.get('vendor', '?')} {entry.get('interval', '?')} "
        f"· {entry['origin']}"
    )


def render_frame_viewer(frames_dir: Path, blob: BlobFrames | None, list_blob: bool) -> None:
    st.subheader("Frame viewer")
    remote: list[dict[str, Any]] = []
    if blob is not None and list_blob:
        try:
            remote = blob.records()
        except AiTraderError as exc:  # degraded, not failed: local frames are still listed
            st.warning(f"blob frame manifest unavailable: {exc}")
    entries = merge_manifests(read_manifest(frames_dir / "manifest.jsonl"), remote)
    labels = ["(paste a path below)"] + [_label(e) for e in entries]
    choice = st.selectbox("Frame", range(len(labels)), format_func=lambda i: labels[i], key="frame_choice")
    manual = st.text_input(
        "Frame path (a .parquet under the frames store, or blob://<container>/<key>)", key="frame_path"
    ).strip()
    if not manual and not choice:
        st.info(f"No frame selected. Frames are listed from {frames_dir.name}/manifest.jsonl.")
        return
    try:
        if manual:
            target = check_frame_path(manual, frames_dir, blob)
            frame = open_frame(lambda: load_frame(target, blob=blob))
            where = manual
        else:
            entry = entries[choice - 1]
            loaded: list[str] = []

            def read_entry() -> pd.DataFrame:
                frame, origin = load_entry(entry, base=frames_dir, blob=blob)
                loaded.append(origin)
                return frame

            frame = open_frame(read_entry)
            where = loaded[0]
    except AiTraderError as exc:
        st.error(f"Cannot open this frame: {exc}", icon=":material/block:")
        return
    metrics = frame_metrics(frame)
    cols = st.columns(5)
    cols[0].metric("Bars", metrics.get("bars", 0))
    cols[1].metric("Total return", f"{metrics['total_return']:.2%}" if "total_return" in metrics else "-")
    cols[2].metric("Max drawdown", f"{metrics['max_drawdown']:.2%}" if "max_drawdown" in metrics else "-")
    cols[3].metric("Exposure", f"{metrics['exposure']:.0%}" if "exposure" in metrics else "-")
    cols[4].metric("Trades", metrics.get("trades", "-"))
    st.caption(
        f"{Path(where).name if not where.startswith('blob://') else where} · columns: "
        + ", ".join(str(c) for c in frame.columns)
    )
    st.plotly_chart(frame_figure(frame), width="stretch", key="frame_chart")
    with st.expander("Latest rows"):
        st.dataframe(frame.tail(20), width="stretch")
