"""``ai-trader backtest portfolio``: the request, the run through the DAL and its frame."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from app.backtest.frames import MANIFEST_NAME
from app.backtest.portfolio import backtest_portfolio
from app.backtest.portfolio_run import PortfolioRequest, run_portfolio_request
from app.backtest.service import BacktestDeps, warmup_start
from app.bootstrap import build_risk_config
from app.cli.main import app
from app.config import Settings
from app.dal import MarketData
from app.strategies import get_strategy

BASE = {
    "symbols": ["aapl", "MSFT", "goog"],
    "start": "2023-01-03",
    "end": "2023-12-29",
    "strategy": "momentum",
}


def test_request_checks_symbols_dates_and_limits() -> None:
    request = PortfolioRequest.model_validate(BASE)
    assert request.symbols == ["AAPL", "MSFT", "GOOG"]
    assert request.limits().max_weight == 0.25
    assert request.limits().cap_mode == "governor"  # the live governor's caps by default
    for bad in (
        {"symbols": []},
        {"symbols": ["AAPL", "aapl"]},
        {"symbols": ["BAD SYMBOL"]},
        {"end": "2022-01-01"},
        {"max_weight": 0},
        {"prior_model": "x/y"},
        {"cap_mode": "clip"},
    ):
        with pytest.raises(ValidationError):
            PortfolioRequest.model_validate(BASE | bad)


def test_run_trades_shared_cash_and_registers_a_portfolio_frame(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    market = MarketData(settings, None)
    risk = build_risk_config(settings)
    request = PortfolioRequest.model_validate(BASE | {"max_weight": 0.4})
    run = run_portfolio_request(settings, request, BacktestDeps(market_data=market, risk_defaults=risk))

    # the same numbers as backtest_portfolio on the same bars
    begin = warmup_start(date(2023, 1, 3), "1Day", request.warmup_bars)
    bars = {
        s: market.fetch("synthetic", s, begin, date(2023, 12, 29), interval="1Day").bars
        for s in request.symbols
    }
    expected = backtest_portfolio(
        bars,
        get_strategy("momentum", {}),
        replace(risk, agent="fractional_kelly", fraction=0.5, regime_aware=False, allow_short=False),
        request.limits(),
        initial_cash=100_000.0,
        trade_from=pd.Timestamp("2023-01-03", tz="UTC"),
    )
    np.testing.assert_allclose(run.result.equity, expected.equity)
    assert run.result.index[0] >= pd.Timestamp("2023-01-03", tz="UTC")
    assert run.summary["final_equity"] == pytest.approx(expected.final_equity)
    assert set(run.summary["pnl_by_symbol"]) == {"AAPL", "MSFT", "GOOG"}
    pnl = sum(run.summary["pnl_by_symbol"].values())
    assert pnl == pytest.approx(run.summary["final_equity"] - 100_000.0, abs=1e-6)

    frame = pd.read_parquet(run.frame.path)
    assert list(frame.columns[:2]) == ["equity", "gross_exposure"]
    assert {"target:AAPL", "holdings:GOOG", "refused:MSFT"} <= set(frame.columns)
    assert run.summary["cap_mode"] == "governor" and run.summary["limits"]["cap_mode"] == "governor"
    assert run.summary["refused"] == expected.refusal_counts()
    assert (frame[[c for c in frame.columns if c.startswith("target:")]].abs().max() <= 1.0).all()
    lines = (settings.frames_dir / MANIFEST_NAME).read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["source"] == "portfolio" and record["run_id"] == run.run_id
    assert record["symbols"] == ["AAPL", "MSFT", "GOOG"]


def test_cli_prints_totals_and_per_symbol_pnl(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    for key in ("DATA_DIR", "ARTIFACTS_DIR"):
        monkeypatch.setenv(key, str(getattr(settings, key)))
    runner = CliRunner()
    args = ["backtest", "portfolio", "--symbols", "AAPL,MSFT", "--strategy", "momentum"]
    result = runner.invoke(app, [*args, "--start", "2023-01-03", "--end", "2023-06-30", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["symbols"] == ["AAPL", "MSFT"] and summary["prior"]["source"] == "beta"
    assert summary["cap_mode"] == "governor"
    # the present clip-and-scale rules stay one option away
    capped = ["--max-weight", "0.05", "--max-positions", "1"]
    window = ["--start", "2023-01-03", "--end", "2023-06-30"]
    governed = runner.invoke(app, [*args, *window, *capped, "--json"])
    scaled = runner.invoke(app, [*args, *window, *capped, "--cap-mode", "scale", "--json"])
    assert governed.exit_code == 0 and scaled.exit_code == 0, (governed.output, scaled.output)
    governed_summary, scaled_summary = json.loads(governed.stdout), json.loads(scaled.stdout)
    assert scaled_summary["cap_mode"] == "scale" and scaled_summary["refused"] == {}
    assert governed_summary["refused"].get("kill_switch_symbol_weight", 0) > 0
    assert governed_summary["fills"] < scaled_summary["fills"]  # refused whole, not clipped
    plain = runner.invoke(app, [*args, *window, *capped])
    assert "cap_mode=governor" in plain.stdout and "refused kill_switch_symbol_weight=" in plain.stdout
    wrong = runner.invoke(app, [*args, *window, "--cap-mode", "clip"])
    assert wrong.exit_code != 0 and "cap-mode" in wrong.output
    bad = runner.invoke(app, [*args, "--start", "2023-01-03", "--end", "2023-06-30", "--max-weight", "2"])
    assert bad.exit_code == 2
    # an empty entry in the list is an error, never silently dropped
    empty = runner.invoke(app, [*args[:3], "AAPL,,MSFT", *args[4:], *window])
    assert empty.exit_code == 2 and "invalid symbols: ''" in empty.output
    # the frame's path is printed whole on one line, whatever the terminal's width
    paths = [line for line in plain.stdout.splitlines() if line.startswith("prob_frame_path=")]
    assert len(paths) == 1 and paths[0].endswith(".parquet"), plain.stdout
