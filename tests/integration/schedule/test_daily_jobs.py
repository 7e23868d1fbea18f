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
    assert report["kill_switch"] == {  # type: ignore[index]
        "active": False,
        "state": "ACTIVE",
        "latched_reason": None,
        "reason": None,
        "trips": report["kill_switch"]["trips"],  # type: ignore[index]
    }
    markdown = jobs.output_path(SESSION, "reports").with_suffix(".md").read_text()
    assert "fills: 1, filled notional 841.00" in markdown


def test_report_scores_the_router_probabilities_against_todays_outcomes(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    services = Container(make_settings(WATCHLIST="AAPL,MSFT", MODEL_CALIBRATION_MIN_SAMPLES=1))
    services.db.upgrade()
    jobs = DailyJobs(services)
    try:
        runs = []
        for symbol in ("AAPL", "MSFT", "NVDA"):
            bars = services.market_data.fetch("synthetic", symbol, date(2024, 12, 1), SESSION).bars
            assert bars.index[-1].date() == SESSION
            close = bars["close"].to_numpy()
            # a confident call on the day before the session that the session's bar proves wrong
            losing_side = -1.0 if close[-1] > close[-2] else 1.0
            runs.append(
                {
                    "symbol": symbol,
                    "strategy": "breakout",
                    "signal_bar_time": bars.index[-2].isoformat(),
                    "prob": 0.95,
                    "position": losing_side,
                    "regime": "trend_up",
                    "prior": {"version": None},
                }
            )
        runs.append({**runs[0], "signal_bar_time": bars.index[-1].isoformat()})  # outcome not known yet
        folder = jobs.output_path(SESSION, "x").parent
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "intraday_refresh_1530.json").write_text(json.dumps({"runs": runs}))
        with caplog.at_level("ERROR", logger="app.workers.daily_jobs"):
            jobs.run("reports", SESSION)
        calibration = _read(jobs, "reports")["calibration"]
        assert isinstance(calibration, dict)
        assert calibration["scored"] == 3 and calibration["pending"] == 1
        trend = calibration["regimes"]["trend_up"]
        assert trend["brier"] == pytest.approx(0.95**2)
        assert trend["drift"] is True and calibration["drifting"] == ["trend_up"]
        assert any("CALIBRATION DRIFT: regime trend_up" in r.getMessage() for r in caplog.records)
        markdown = jobs.output_path(SESSION, "reports").with_suffix(".md").read_text()
        assert "## Live calibration" in markdown and "| trend_up | 3 |" in markdown and "DRIFT" in markdown
    finally:
        services.close()


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


def test_refreshes_decide_on_intraday_bars_when_a_vendor_is_configured(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    # a configured vendor for scans; the router's vendor chain is served offline by synthetic bars
    settings = make_settings(
        WATCHLIST="AAPL", WATCHLIST_SIZE=1, SCHEDULE_DAL_VENDOR="yahoo", DAL_AUTO_ORDER="synthetic"
    )
    with Container(settings) as services:
        services.db.upgrade()
        jobs = DailyJobs(services)
        with caplog.at_level("INFO", logger="app.workers.daily_jobs"):
            assert jobs.run("intraday_refresh_0935", SESSION)["count"] == 1
        record = _read(jobs, "intraday_refresh_0935")
        assert (record["interval"], record["offline_mode"], record["routed"]) == ("5Min", False, True)
        assert record["reconcile"]["clean"] is True  # type: ignore[index]
        (run,) = record["runs"]  # type: ignore[misc]
        assert "error" not in run and "ingest:synthetic" in run["events"]
        assert "intraday_refresh_0935 decides on 5Min bars from the configured vendors" in caplog.text


def test_the_offline_default_says_it_drills_on_synthetic_daily_bars(
    jobs: DailyJobs, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="app.workers.daily_jobs"):
        jobs.run("intraday_refresh_1130", SESSION)
    record = _read(jobs, "intraday_refresh_1130")
    assert (record["interval"], record["offline_mode"]) == ("1Day", True)
    assert "offline drill on synthetic daily bars" in caplog.text


def test_report_shows_each_limits_use_beside_the_book(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        RISK_MAX_SYMBOL_WEIGHT=0.5,
        RISK_MAX_OPEN_POSITIONS=4,
        RISK_MAX_DRAWDOWN=0.2,
        KILL_SWITCH_MAX_OPEN_ORDERS=10,
    )
    with Container(settings) as services:
        services.db.upgrade()
        record_filled_order(
            services.db, client_order_id="MSFT-breakout-20250102", symbol="MSFT", qty="2", price="420.5"
        )
        jobs = DailyJobs(services)
        jobs.run("reports", SESSION)
        report = _read(jobs, "reports")
        limits = report["book"]["limits"]  # type: ignore[index]
        assert limits["status"] == "ok"
        assert set(limits["use"]) == {
            "max_symbol_weight",
            "max_open_positions",
            "max_drawdown",
            "max_open_orders",
        }
        assert limits["use"]["max_open_positions"] == 0.25 and limits["use"]["max_open_orders"] == 0.0
        assert 0 < limits["use"]["max_symbol_weight"] < 0.1  # two MSFT shares of a 100,000 account
        assert limits["limits"]["max_symbol_weight"] == 0.5 and limits["warnings"] == []
        markdown = jobs.output_path(SESSION, "reports").with_suffix(".md").read_text()
        assert "- limits used: max_drawdown 0%, max_open_orders 0%, max_open_positions 25%" in markdown
        assert "governor ACTIVE" in markdown
