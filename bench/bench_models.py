"""Win-probability models: fit + calibration on 1,000,000 rows, and scoring one bar in the router.

* Fit: :func:`app.models.training.train` (5 purged, embargoed folds of out-of-sample raw
  scores, out-of-sample isotonic calibration, the final refit) with the retrain job's default
  estimator (histogram gradient boosting, 100 iterations, 15 leaves, each fit on at most
  ``max_fit_rows`` = 100,000 evenly spaced rows of its training set) on 1,000,000 rows of the
  model's 26 features with a learnable edge, OpenMP limited to 2 threads (the goal's 2 cores).
  Measured once (a fit is seconds to a minute; one sample says what an operator waits).
* Scoring: what the router's priors node adds for a promoted model — features of the bar it
  acts on (``build_features(..., with_labels=False)`` on that row only) plus the calibrated
  prediction (the flattened trees of :mod:`app.models.fastpredict`, bit-identical to
  scikit-learn) — through :func:`app.decision.pipeline.apply_probability_model` on a 500-bar
  decision frame; 2,000 single calls after a warm-up, p50 and p99.

Run as part of ``python -m bench`` (or ``python -m bench --only models``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bench.report import Goal, Section

ROWS = 1_000_000
FIT_GOAL_S = 60.0
SCORE_GOAL_MS = 1.0
SCORE_CALLS = 2_000


def _data(rows: int) -> object:
    from app.models.features import FEATURE_NAMES, FeatureSet

    rng = np.random.default_rng(11)
    features = rng.normal(size=(rows, len(FEATURE_NAMES)))
    features[rng.uniform(size=features.shape) < 0.01] = np.nan
    edge = 0.6 * np.nan_to_num(features[:, 3]) - 0.4 * np.nan_to_num(features[:, 7])
    labels = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-edge))).astype(np.int8)
    return FeatureSet(features=features, labels=labels, rows=np.arange(rows), prior_prob=np.full(rows, 0.5))


def bench_fit(rows: int) -> tuple[float, dict[str, float], object]:
    from threadpoolctl import threadpool_limits

    from app.models.training import TrainingConfig, train

    data = _data(rows)
    with threadpool_limits(limits=2):
        started, started_cpu = time.perf_counter(), time.process_time()
        model, report = train(data, TrainingConfig())  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        cpu = time.process_time() - started_cpu
    return (
        seconds,
        {
            "brier": report.model.brier,
            "prior_brier": report.prior.brier,
            "ece": report.model.ece,
            "cpu": cpu,
        },
        model,
    )


def bench_scoring(model: object) -> dict[str, float]:
    from app.decision import compute_regimes, compute_signals
    from app.decision.pipeline import apply_probability_model, decide
    from app.risk.sizing import RiskConfig
    from app.strategies import get_strategy

    rng = np.random.default_rng(5)
    n = 500
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    index = pd.date_range("2024-01-02", periods=n, freq="B", tz="UTC")
    bars = pd.DataFrame(
        {"open": close, "high": close * 1.004, "low": close * 0.996, "close": close, "volume": 1e6},
        index=index,
    )
    signals = compute_signals(bars)
    regimes = compute_regimes(bars, signals)
    risk = RiskConfig(agent="fractional_kelly", allow_short=True)
    frame = decide(bars, signals, regimes, get_strategy("momentum", {}), risk)
    side_bars = np.flatnonzero(frame.position != 0)
    row = np.array([int(side_bars[-1])])
    for _ in range(50):
        apply_probability_model(frame, bars, signals, model, risk, row)  # type: ignore[arg-type]
    samples = []
    for _ in range(SCORE_CALLS):
        started = time.perf_counter()
        apply_probability_model(frame, bars, signals, model, risk, row)  # type: ignore[arg-type]
        samples.append((time.perf_counter() - started) * 1000)
    arr = np.asarray(samples)
    return {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99))}


def run(quick: bool = False) -> Section:
    rows = 100_000 if quick else ROWS
    fit_s, scores, model = bench_fit(rows)
    scoring = bench_scoring(model)
    fit_met = fit_s < FIT_GOAL_S
    score_met = scoring["p50"] < SCORE_GOAL_MS and scoring["p99"] < SCORE_GOAL_MS
    lines = [
        f"Fit + out-of-sample calibration of the default model (HGB, 100 iterations, 15 leaves, 5 purged "
        f"folds, each fit on at most 100,000 evenly spaced rows, isotonic) on {rows:,} rows x 26 features,"
        f" OpenMP on 2 threads; scoring one bar as the "
        f"router's priors node does it ({SCORE_CALLS:,} calls, one thread).",
        "",
        "| what | figure | goal | verdict |",
        "|---|---:|---:|---|",
        f"| fit + calibration, {rows:,} rows, 2 threads | {fit_s:.1f} s | < {FIT_GOAL_S:.0f} s | "
        f"{'met' if fit_met else 'NOT met'} |",
        f"| the same fit, CPU time of this process (both threads) | {scores['cpu']:.1f} s | | |",
        f"| score one bar (features of that row + calibrated predict), p50 | {scoring['p50']:.3f} ms | "
        f"< {SCORE_GOAL_MS:.0f} ms | {'met' if scoring['p50'] < SCORE_GOAL_MS else 'NOT met'} |",
        f"| score one bar, p99 | {scoring['p99']:.3f} ms | < {SCORE_GOAL_MS:.0f} ms | "
        f"{'met' if scoring['p99'] < SCORE_GOAL_MS else 'NOT met'} |",
        "",
        f"Out-of-sample Brier {scores['brier']:.4f} against the flat prior's {scores['prior_brier']:.4f} "
        f"(ECE {scores['ece']:.4f}): the fit learned the planted edge.",
    ]
    return Section(
        name="models",
        title="Win-probability model (fit on 1,000,000 rows, single-bar scoring)",
        body="\n".join(lines),
        goals=[
            Goal("model fit + calibration on 1M rows under 60 s (2 cores)", f"{fit_s:.1f} s", fit_met),
            Goal(
                "single-bar scoring under 1 ms (p50 and p99)",
                f"{scoring['p50']:.3f} / {scoring['p99']:.3f} ms",
                score_met,
            ),
        ],
    )


if __name__ == "__main__":
    print(run().body)
