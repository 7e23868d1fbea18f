"""A whole trading day of scheduled jobs on embedded defaults and synthetic data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from app.bootstrap import Container
from app.config import Settings
from app.decision import REGIME_LABELS
from app.errors import InputError
from app.workers.daily_jobs import DailyJobs
from tests.factories import record_filled_order

SESSION = date(2025, 1, 2)


@pytest.fixture
def jobs(make_settings: Callable[..., Settings]) -> Iterator[DailyJobs]:
    services = Container(make_settings(WATCHLIST="AAPL,MSFT,NVDA", WATCHLIST_SIZE=2))
    services.db.upgrade()
    yield DailyJobs(services)
    services.close()


def _read(jobs: DailyJobs, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(jobs.output_path(SESSION, name).read_text())
    return data


def test_a_session_of_jobs_writes_its_artifacts(jobs: DailyJobs) -> None:
    assert jobs.run("startup_check", SESSION)["status"] == "ok"
    scan = jobs.run("premarket_scan", SESSION)
    assert scan["count"] == 3
    ranked = _read(jobs, "premarket_scan")["ranked"]
    assert isinstance(ranked, list)
    scores = [r["score"] for r in ranked if r["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    assert {r["regime"] for r in ranked} <= set(REGIME_LABELS)
    final = jobs.run("finalize_watchlist", SESSION)
    assert final["count"] == 2
    assert final["symbols"] == [r["symbol"] for r in ranked if r["score"] is not None][:2]
    assert jobs.run("warm_up", SESSION)["status"] == "ok"
    refresh = jobs.run("intraday_refresh_0935", SESSION)
    assert refresh["count"] == 2
    runs = _read(jobs, "intraday_refresh_0935")["runs"]
    assert isinstance(runs, list)
    for run in runs:
        assert "ingest:synthetic" in run["events"]
        assert run["published"] is False


def test_report_summarises_the_sessions_orders_and_fills(jobs: DailyJobs) -> None:
    record_filled_order(
        jobs.services.db, client_order_id="MSFT-breakout-20250102", symbol="MSFT", qty="2", price="420.5"
    )
    jobs.run("reports", SESSION)
    report = _read(jobs, "reports")
    assert report["fills"] == 1
    assert report["filled_notional"] == 841.0
    assert report["kill_switch"] == {"active": False, "reason": None, "trips": report["kill_switch"]["trips"]}  # type: ignore[index]
    markdown = jobs.output_path(SESSION, "reports").with_suffix(".md").read_text()
    assert "fills: 1, filled notional 841.00" in markdown


def test_retrain_without_config_and_unknown_jobs_are_clear_errors(jobs: DailyJobs) -> None:
    with pytest.raises(InputError, match="SCHEDULE_RETRAIN_CONFIG"):
        jobs.run("retrain", SESSION)
    with pytest.raises(InputError, match="unknown scheduled job"):
        jobs.run("lunch", SESSION)


def test_retrain_runs_the_configured_sweep(make_settings: Callable[..., Settings]) -> None:
    config = Path(__file__).resolve().parents[3] / "configs" / "backtest" / "sma_cross_sweep.yaml"
    services = Container(make_settings(SCHEDULE_RETRAIN_CONFIG=config))
    services.db.upgrade()
    try:
        summary = DailyJobs(services).run("retrain", SESSION)
        report = json.loads(Path(summary["output"]).read_text())
    finally:
        services.close()
    assert report["status"] == "ok" and report["failed"] == 0
    assert report["count"] == 3230
    assert (Path(report["output_dir"]) / "summary.jsonl").exists()
    assert report["best"]["params"]["fast"] < report["best"]["params"]["slow"]


RETRAIN_CONFIG = """\
name: retrain_momentum
symbols: [AAPL, MSFT]
vendor: synthetic
interval: 1Day
start: 2016-01-04
end: 2023-12-29
strategy: momentum
params:
  lookback: [5, 20, 60]
  threshold: [0.0, 0.01]
risk: {agent: all_in}
allow_short: true
objective: {metric: sharpe}
walk_forward: {folds: 5, train_bars: 500}
promotion: {min_oos_deflated_sharpe: 0.5, pbo_splits: 8}
"""


def test_retrain_decides_parameters_and_a_model_with_their_numbers(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from app.models.params import champion_parameters
    from app.models.registry import ModelRegistry

    config = tmp_path / "retrain.yaml"
    config.write_text(RETRAIN_CONFIG)
    services = Container(make_settings(SCHEDULE_RETRAIN_CONFIG=config, MODEL_ESTIMATOR="logistic"))
    services.db.upgrade()
    try:
        summary = DailyJobs(services).run("retrain", SESSION)
        report = json.loads(Path(summary["output"]).read_text())
        blob = services.blob
        registry = ModelRegistry(blob, "trader-models")
        parameters = report["parameters"]
        model = report["model"]
        champion = champion_parameters(blob, "momentum")
        versions = registry.versions("momentum")
        decisions = registry.decisions("momentum")
    finally:
        services.close()
    assert report["count"] == 12  # 6 sets x 2 symbols
    # The parameter decision follows the sweep's own verdict, and records its reason either way.
    assert parameters["promoted"] == report["sweep_promotable"]
    assert parameters["reason"]
    if parameters["promoted"]:
        assert champion is not None and champion["params"] == report["best"]["params"]
    else:
        assert champion is None
    # A model was fitted on both symbols, registered, and decided on with its numbers.
    assert model["version"] in versions
    assert model["samples"] > 1_000
    assert {"brier", "log_loss", "ece"} <= set(model["model"]) and {"brier"} <= set(model["prior"])
    assert [d.version for d in decisions] == [model["version"]]
    assert decisions[0].promoted == model["promoted"]
    assert (registry.champion_version("momentum") == model["version"]) == model["promoted"]
