"""Backtests & sweeps: jobs with ok/failed counts, leaderboard, heat map, runs, enqueue a sweep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.ui.client import Outcome
from app.ui.common import Console, coloured, panel_error, to_local

__all__ = ["backtests_calls", "heatmap_frame", "job_rows", "render_backtests", "robustness_rows"]

JOB_STATES = ("queued", "dispatched", "running", "completed", "failed")


def backtests_calls(console: Console) -> dict[str, Callable[[], Any]]:
    api = console.api
    return {
        "sweeps": lambda: api.get("/backtests/sweeps/overview", limit=20),
        "runs": lambda: api.get("/backtests/runs", limit=50),
        "configs": lambda: api.get("/backtests/sweeps/configs"),
    }


def _objective(job: dict[str, Any]) -> str:
    objective = (job.get("config") or {}).get("objective") or {}
    return str(objective.get("metric") or "total_return")


def job_rows(jobs: list[dict[str, Any]], tz: Any) -> pd.DataFrame:
    rows = []
    for job in jobs:
        best = job.get("best") or {}
        metric = _objective(job)
        value = (best.get("metrics") or {}).get(metric)
        rows.append(
            {
                "job": job["job_id"][:12],
                "status": job["status"],
                "strategy": job.get("strategy") or "",
                "symbol": job.get("symbol") or "",
                "ok": job.get("ok"),
                "failed": job.get("failed"),
                "best": round(float(value), 4) if value is not None else None,
                "objective": metric,
                "created": to_local(job.get("created_at"), tz, "%m-%d %H:%M"),
                "error": (job.get("error") or "")[:120],
            }
        )
    columns = ["job", "status", "ok", "failed", "strategy", "symbol", "best", "objective", "created", "error"]
    return pd.DataFrame(rows, columns=columns)


def heatmap_frame(board: list[dict[str, Any]], params: list[str], metric: str) -> pd.DataFrame | None:
    """``metric`` over a two-parameter grid (rows: the second parameter), or ``None``."""
    if len(params) != 2 or not board:
        return None
    frame = pd.DataFrame(board)
    if not {*params, metric} <= set(frame.columns):
        return None
    frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
    return frame.pivot_table(index=params[1], columns=params[0], values=metric, aggfunc="max")


def _enqueue(console: Console, configs: Outcome) -> None:
    st.markdown("**Enqueue a sweep**")
    if not configs.ok:
        panel_error("sweep configs", configs)
        return
    items = configs.value["items"]
    if not items:
        st.info("No sweep configs under configs/backtest on the API host.")
        return
    labels = {
        c["path"]: f"{c['name'] or c['path']} · {c['strategy'] or '?'} · {', '.join(c['symbols'])}"
        for c in items
    }
    with st.form("enqueue_sweep"):
        path = st.selectbox("Config", list(labels), format_func=lambda p: labels[p], key="sweep_config")
        if st.form_submit_button("Enqueue"):
            result = console.fetch(
                {"enqueue": lambda: console.api.post("/backtests/sweeps/jobs", {"config_path": path})}
            )["enqueue"]
            if result.ok:
                st.success(f"Queued job {result.value['job_id']} ({result.value['status']}).")
            else:
                panel_error("enqueue", result)


def _job_detail(console: Console, jobs: list[dict[str, Any]]) -> None:
    labels = {j["job_id"]: f"{j['job_id'][:12]} · {j.get('strategy') or '?'} · {j['status']}" for j in jobs}
    chosen = st.selectbox(
        "Sweep job",
        [None, *labels],
        key="sweep_job",
        format_func=lambda i: "(choose a job for its leaderboard)" if i is None else labels[i],
    )
    if chosen is None:
        return
    outcome = console.fetch({"job": lambda: console.api.get(f"/backtests/sweeps/jobs/{chosen}", top=100)})[
        "job"
    ]
    if not outcome.ok:
        panel_error("sweep job", outcome)
        return
    job = outcome.value
    summary = job.get("summary") or {}
    cols = st.columns(4)
    cols[0].metric("Status", job["status"])
    cols[1].metric("Sets ok", summary.get("ok", "-"))
    cols[2].metric("Sets failed", summary.get("failed", "-"))
    cols[3].metric("Elapsed s", summary.get("elapsed_s", "-"))
    for error in summary.get("errors") or ([job["error"]] if job.get("error") else []):
        st.error(str(error)[:300])
    board = job.get("leaderboard") or []
    if not board:
        st.info(
            "No leaderboard: no parameter set succeeded."
            if job["status"] == "failed"
            else "No leaderboard yet."
        )
        return
    st.dataframe(pd.DataFrame(board), hide_index=True, width="stretch", key="leaderboard")
    params = list(((job.get("config") or {}).get("params") or {}).keys())
    metric = _objective(job)
    grid = heatmap_frame(board, params, metric)
    if grid is not None:
        figure = go.Figure(
            go.Heatmap(
                z=grid.to_numpy(),
                x=[str(c) for c in grid.columns],
                y=[str(i) for i in grid.index],
                colorscale="RdYlGn",
                colorbar={"title": metric},
            )
        )
        figure.update_layout(
            title=f"{metric} by {params[0]} × {params[1]} (top {len(board)} sets)",
            xaxis_title=params[0],
            yaxis_title=params[1],
            height=380,
            margin={"l": 40, "r": 10, "t": 40, "b": 40},
        )
        st.plotly_chart(figure, width="stretch", key="heatmap")
    _robustness(summary.get("robustness") or {})


def robustness_rows(robustness: dict[str, Any]) -> pd.DataFrame:
    """One row per symbol: trials, in-sample deflated Sharpe, PBO, out-of-sample figures, verdict."""
    rows = []
    for symbol, report in sorted(robustness.items()):
        walk = report.get("walk_forward") or {}
        oos = walk.get("oos") or {}
        rows.append(
            {
                "symbol": symbol,
                "trials": report.get("trials"),
                "in-sample DSR": (report.get("in_sample") or {}).get("deflated_sharpe"),
                "PBO": (report.get("pbo") or {}).get("probability"),
                "OOS DSR": (walk.get("oos_dsr") or {}).get("deflated_sharpe"),
                "OOS sharpe": oos.get("sharpe"),
                "OOS total_return": oos.get("total_return"),
                "promotable": bool(report.get("promotable")),
                "reason": report.get("reason") or "",
            }
        )
    columns = ["symbol", "trials", "in-sample DSR", "PBO", "OOS DSR", "OOS sharpe", "OOS total_return"]
    return pd.DataFrame(rows, columns=[*columns, "promotable", "reason"])


def _robustness(robustness: dict[str, Any]) -> None:
    if not robustness:
        st.caption("No in-sample / out-of-sample statistics in this sweep's run file.")
        return
    st.markdown("**In-sample vs out-of-sample**")
    st.dataframe(robustness_rows(robustness), hide_index=True, width="stretch")
    for symbol, report in sorted(robustness.items()):
        folds = (report.get("walk_forward") or {}).get("folds") or []
        if not folds:
            continue
        labels = [f"fold {f['fold']}" for f in folds]
        figure = go.Figure(
            [
                go.Bar(name="in-sample (train)", x=labels, y=[f.get("train_score") for f in folds]),
                go.Bar(name="out-of-sample (test)", x=labels, y=[f.get("test_score") for f in folds]),
            ]
        )
        metric = (report.get("walk_forward") or {}).get("selection_metric", "score")
        figure.update_layout(
            barmode="group",
            title=f"{symbol}: {metric} of each fold's chosen set",
            height=320,
            margin={"l": 40, "r": 10, "t": 40, "b": 30},
        )
        st.plotly_chart(figure, width="stretch", key=f"walk_forward_{symbol}")


def render_backtests(console: Console, fetched: dict[str, Outcome]) -> None:
    st.subheader("Backtests & sweeps")
    sweeps = fetched["sweeps"]
    if not sweeps.ok:
        panel_error("sweep jobs", sweeps)
    else:
        counts = sweeps.value["counts"]
        cols = st.columns(len(JOB_STATES))
        for col, name in zip(cols, JOB_STATES, strict=True):
            col.metric(name, counts.get(name, 0))
        jobs = sweeps.value["items"]
        if jobs:
            st.dataframe(coloured(job_rows(jobs, console.tz), "status"), hide_index=True, width="stretch")
            _job_detail(console, jobs)
        else:
            st.info("No sweep jobs yet.")
    _enqueue(console, fetched["configs"])
    st.markdown("**Backtest runs**")
    runs = fetched["runs"]
    if not runs.ok:
        panel_error("backtest runs", runs)
    elif runs.value["items"]:
        rows = [
            {
                "symbol": r["symbol"],
                "strategy": r["strategy"],
                "total_return": r["metrics"].get("total_return"),
                "max_drawdown": r["metrics"].get("max_drawdown"),
                "sharpe": r["metrics"].get("sharpe"),
                "trades": r["metrics"].get("trades"),
                "source": r["source"],
                "when": to_local(r.get("created_at"), console.tz, "%m-%d %H:%M"),
                "run": r["run_id"][:12],
            }
            for r in runs.value["items"]
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.info("No backtest runs recorded yet.")
