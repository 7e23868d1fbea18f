"""Models: the live calibration of the router's win probabilities per regime (reliability
curve, drift flag) from the newest 18:00 reports job, and each strategy's champion vs
challenger from the model registry with its promotion decisions and their numbers.

Source: ``GET /models/overview``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.ui.client import Outcome
from app.ui.common import Console, panel_error

__all__ = ["calibration_rows", "champion_rows", "models_calls", "reliability_figure", "render_models"]


def models_calls(console: Console) -> dict[str, Callable[[], Any]]:
    return {"models": lambda: console.api.get("/models/overview")}


def calibration_rows(calibration: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per regime: outcomes, Brier, ECE, mean p, win rate and the drift verdict."""
    rows = []
    for regime, scores in calibration.get("regimes", {}).items():
        verdict = "DRIFT" if scores.get("drift") else ("ok" if scores.get("judged", True) else "too few")
        rows.append(
            {
                "regime": regime,
                "outcomes": int(scores["samples"]),
                "Brier": float(scores["brier"]),
                "ECE": float(scores["ece"]),
                "mean p": float(scores["mean_prob"]),
                "win rate": float(scores["base_rate"]),
                "drift": verdict,
            }
        )
    return rows


def _metrics_of(summary: Mapping[str, Any] | None, role: str) -> dict[str, Any]:
    if summary is None:
        return {"role": role, "version": "Beta prior" if role == "champion" else "-"}
    model, prior = summary.get("model", {}), summary.get("prior", {})
    return {
        "role": role,
        "version": summary["version"],
        "samples": summary.get("samples"),
        "Brier": model.get("brier"),
        "prior Brier": prior.get("brier"),
        "Brier gain": summary.get("brier_improvement"),
        "log loss": model.get("log_loss"),
        "prior log loss": prior.get("log_loss"),
        "ECE": model.get("ece"),
    }


def champion_rows(strategy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Champion then challenger with their out-of-sample numbers next to the Beta prior's; no
    champion means the Beta prior sizes."""
    return [
        _metrics_of(strategy.get("champion"), "champion"),
        _metrics_of(strategy.get("challenger"), "challenger"),
    ]


def reliability_figure(regimes: Mapping[str, Any], names: Iterable[str]) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], name="perfect", mode="lines", line={"dash": "dot", "color": "#999"})
    )
    for name in names:
        curve = regimes[name]["reliability"]
        figure.add_trace(
            go.Scatter(
                x=curve["forecast"],
                y=curve["observed"],
                name=f"{name}{' (DRIFT)' if regimes[name].get('drift') else ''}",
                mode="lines+markers",
                text=[f"n={int(c)}" for c in curve["count"]],
            )
        )
    figure.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "forecast p", "range": [0, 1]},
        yaxis={"title": "observed win rate", "range": [0, 1]},
        legend={"orientation": "h"},
    )
    return figure


def _calibration(value: Mapping[str, Any]) -> None:
    st.markdown("**Live calibration**")
    if value.get("calibration_error"):
        st.error(f"calibration unavailable: {value['calibration_error']}", icon=":material/cloud_off:")
        return
    calibration = value.get("calibration")
    if not calibration:
        st.info(
            "No live calibration yet: the 18:00 reports job writes it once router decisions have outcomes."
        )
        return
    overall = calibration.get("overall")
    cols = st.columns(4)
    cols[0].metric("Session", str(calibration["session"]))
    cols[1].metric("Scored", str(calibration["scored"]))
    cols[2].metric("Pending", str(calibration["pending"]))
    cols[3].metric("ECE", "-" if overall is None else f"{overall['ece']:.3f}")
    drifting = calibration.get("drifting", [])
    if drifting:
        st.error(
            f"Calibration drift in {', '.join(drifting)}: expected calibration error above "
            f"{calibration['drift_max']:.3f} with at least {calibration['min_samples']} outcomes.",
            icon=":material/warning:",
        )
    rows = calibration_rows(calibration)
    if not rows:
        st.info(f"No decision realised on {calibration['session']} ({calibration['pending']} pending).")
        return
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            k: st.column_config.NumberColumn(format="%.4f") for k in ("Brier", "ECE", "mean p", "win rate")
        },
    )
    regimes = calibration["regimes"]
    st.plotly_chart(reliability_figure(regimes, list(regimes)), width="stretch", key="reliability_chart")
    st.caption(
        "Reliability per regime: mean forecast p against the observed win rate per bin "
        "(click a legend entry to hide it)."
    )


def _registry(value: Mapping[str, Any]) -> None:
    st.markdown("**Champion vs challenger**")
    if value.get("registry_error"):
        st.error(f"model registry unavailable: {value['registry_error']}", icon=":material/cloud_off:")
        return
    strategies = value.get("strategies", [])
    if not strategies:
        st.info("No model registered yet: the Beta priors size every strategy.")
        return
    for strategy in strategies:
        st.markdown(f"*{strategy['strategy']}*")
        if strategy.get("error"):
            st.error(f"{strategy['strategy']}: {strategy['error']}")
            continue
        st.dataframe(pd.DataFrame(champion_rows(strategy)), hide_index=True, width="stretch")
        decisions = strategy.get("decisions", [])
        if decisions:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "decided": d["decided_at"][:16].replace("T", " "),
                            "version": d["version"],
                            "promoted": "yes" if d["promoted"] else "no",
                            "Brier": d["model_brier"],
                            "prior Brier": d["prior_brier"],
                            "gain": d["brier_improvement"],
                            "log loss": d["model_log_loss"],
                            "prior log loss": d["prior_log_loss"],
                            "why": d["reason"],
                            "by": d["actor"],
                        }
                        for d in decisions
                    ]
                ),
                hide_index=True,
                width="stretch",
            )


def render_models(console: Console, fetched: dict[str, Outcome]) -> None:
    st.subheader("Models")
    models = fetched["models"]
    if not models.ok:
        panel_error("models", models)
        return
    _calibration(models.value)
    _registry(models.value)
