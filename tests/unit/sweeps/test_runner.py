"""run_sweep: outputs, ranking, the best frame, resume, failures and backends."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import pytest

from app.backtest.engine import EngineConfig, run_backtest
from app.backtest.frames import read_manifest
from app.backtest.sweeps import SweepConfig, parse_sweep_config, run_sweep
from app.backtest.sweeps.evaluate import MarketArrays
from app.backtest.sweeps.progress import LogProgress, RichProgress, make_progress
from app.bootstrap import build_risk_config, build_sweep_deps
from app.config import Settings
from app.decision.pipeline import decide
from app.errors import ConfigError
from app.strategies import get_strategy

CONFIG = """\
name: unit_sweep
symbols: [GOOG]
vendor: sample
start: 2005-01-03
end: 2013-03-01
strategy: sma_cross
params:
  fast: [5, 10, 20]
  slow: [30, 60]
costs: {commission: 0.001}
allow_short: true
initial_cash: 10000
objective: {metric: total_return}
"""


def _summary(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]


def _leaderboard(out: Path) -> list[dict[str, str]]:
    with (out / "leaderboard.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_outputs_rank_and_register_the_best_frame(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_sweep(parse_sweep_config(CONFIG), out, settings=settings, deps=build_sweep_deps(settings))
    assert (result.total, result.ok, result.failed, result.evaluated) == (6, 6, 0, 6)
    rows = _summary(out)
    assert len(rows) == 6 and all(r["status"] == "ok" and r["error"] is None for r in rows)
    board = _leaderboard(out)
    returns = [float(r["total_return"]) for r in board]
    assert returns == sorted(returns, reverse=True)
    assert list(board[0])[:5] == ["rank", "symbol", "set_id", "fast", "slow"]
    assert result.best is not None and board[0]["set_id"] == result.best["set_id"]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "completed" and run["ok"] == 6 and run["best"]["set_id"] == board[0]["set_id"]
    manifest = read_manifest(settings.frames_dir / "manifest.jsonl")
    assert [m["source"] for m in manifest] == ["sweep"]
    assert manifest[0]["path"] == result.frame_path and Path(manifest[0]["path"]).is_file()
    assert manifest[0]["params"] == result.best["params"]


def test_best_row_equals_a_single_backtest_of_its_params(
    settings: Settings, tmp_path: Path, goog: MarketArrays
) -> None:
    result = run_sweep(
        parse_sweep_config(CONFIG),
        tmp_path / "out",
        settings=settings,
        deps=build_sweep_deps(settings),
        write_frame=False,
    )
    assert result.best is not None and result.frame_path is None
    risk = build_risk_config(settings, allow_short=True)
    decisions = decide(
        goog.bars, goog.signals, goog.regimes, get_strategy("sma_cross", result.best["params"]), risk
    )
    single = run_backtest(goog.bars, decisions.target, EngineConfig(commission=0.001, initial_cash=10_000.0))
    assert result.best["metrics"]["final_equity"] == pytest.approx(single.metrics["final_equity"], rel=1e-12)
    assert result.best["trades"] == single.num_trades


def test_rerun_resumes_and_a_changed_config_starts_over(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = parse_sweep_config(CONFIG)
    run_sweep(config, out, settings=settings, deps=build_sweep_deps(settings), write_frame=False)
    again = run_sweep(config, out, settings=settings, deps=build_sweep_deps(settings), write_frame=False)
    assert (again.evaluated, again.resumed, again.ok) == (0, 6, 6)
    assert len(_summary(out)) == 6
    wider = config.with_overrides(params={"fast": [5, 10, 20, 25], "slow": [30, 60]})
    third = run_sweep(wider, out, settings=settings, deps=build_sweep_deps(settings), write_frame=False)
    assert (third.evaluated, third.resumed) == (8, 0)
    assert len(list(out.glob("summary.*.jsonl"))) == 1


def test_interrupted_sweep_keeps_finished_chunks(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = parse_sweep_config(CONFIG + "execution: {chunk_size: 2}\n")
    run_sweep(config, out, settings=settings, deps=build_sweep_deps(settings), write_frame=False)
    lines = (out / "summary.jsonl").read_text().splitlines()
    # simulate a crash after two chunks: keep four rows and half a line
    (out / "summary.jsonl").write_text("\n".join(lines[:4]) + "\n" + lines[4][:20])
    resumed = run_sweep(config, out, settings=settings, deps=build_sweep_deps(settings), write_frame=False)
    assert (resumed.resumed, resumed.evaluated, resumed.ok) == (4, 2, 6)


def test_failing_sets_and_symbols_are_recorded_and_the_sweep_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    text = CONFIG.replace("symbols: [GOOG]", "symbols: [GOOG, MSFT]").replace(
        "slow: [30, 60]", "slow: [8, 60]"
    )
    result = run_sweep(
        parse_sweep_config(text),
        tmp_path / "out",
        settings=settings,
        deps=build_sweep_deps(settings),
        write_frame=False,
    )
    rows = _summary(tmp_path / "out")
    assert len(rows) == 12
    bad_params = [r for r in rows if r["symbol"] == "GOOG" and r["status"] == "failed"]
    assert {tuple(sorted(r["params"].items())) for r in bad_params} == {
        (("fast", 10), ("slow", 8)),
        (("fast", 20), ("slow", 8)),
    }
    assert all("slow must be greater than fast" in str(r["error"]) for r in bad_params)
    msft = [r for r in rows if r["symbol"] == "MSFT"]
    assert all(r["status"] == "failed" and str(r["error"]).startswith(("data:", "strategy")) for r in msft)
    assert result.ok == 4 and result.failed == 8
    assert len(_leaderboard(tmp_path / "out")) == 4


def test_unknown_strategy_stops_before_any_work(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown strategy"):
        run_sweep(
            parse_sweep_config(CONFIG.replace("sma_cross", "nope")),
            tmp_path / "out",
            settings=settings,
            deps=build_sweep_deps(settings),
        )
    assert not (tmp_path / "out").exists()


def test_process_pool_backend_gives_the_same_rows(settings: Settings, tmp_path: Path) -> None:
    config = parse_sweep_config(CONFIG)
    local = run_sweep(
        config, tmp_path / "local", settings=settings, deps=build_sweep_deps(settings), write_frame=False
    )
    pooled_config = SweepConfig.model_validate(
        {**config.model_dump(mode="json"), "execution": {"backend": "process", "workers": 2, "chunk_size": 3}}
    )
    pooled = run_sweep(
        pooled_config,
        tmp_path / "pool",
        settings=settings,
        deps=build_sweep_deps(settings),
        write_frame=False,
    )
    assert pooled.backend == "process"
    assert _summary(tmp_path / "pool") == _summary(tmp_path / "local")
    assert local.best == pooled.best


def test_ray_backend_needs_ray_address(settings: Settings, tmp_path: Path) -> None:
    config = parse_sweep_config(CONFIG + "execution: {backend: ray}\n")
    with pytest.raises(ConfigError, match="RAY_ADDRESS"):
        run_sweep(config, tmp_path / "out", settings=settings, deps=build_sweep_deps(settings))


def test_progress_is_a_rich_bar_on_a_terminal_and_log_lines_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = make_progress(10, "demo", screen)
    assert isinstance(bar, RichProgress)
    with bar:
        bar.advance(4)
        bar.advance(6, failed=1)
    assert "10/10" in screen.getvalue() and "1 failed" in screen.getvalue()

    plain = make_progress(10, "demo", io.StringIO())
    assert isinstance(plain, LogProgress)
    with caplog.at_level(logging.INFO, logger="app.backtest.sweeps"), plain:
        plain.advance(10, failed=2)
    assert any("demo: 10/10 parameter sets (2 failed)" in r.getMessage() for r in caplog.records)


def test_summary_field_added_to_a_kept_line_reads_as_the_whole_row_serialised(tmp_path: Path) -> None:
    from app.backtest.sweeps.outputs import SummaryWriter

    writer = SummaryWriter(tmp_path)
    rows = [
        {"symbol": "GOOG", "set_id": "a", "params": {"fast": 5}, "metrics": {"sharpe": 1.25, "cagr": None}},
        {"symbol": "GOOG", "set_id": "b", "params": {"name": "caf\u00e9"}, "status": "ok"},
        {"symbol": "GOOG", "set_id": "c", "validation": {"is_sharpe": 0.5}},  # has it already
    ]
    writer.write(rows)
    added = {"is_sharpe": 0.1, "oos_sharpe": None, "is_total_return": -2.5e-07, "oos_total_return": 3.0}
    for row in rows:
        writer.add_field(row, "validation", added)
    (tmp_path / "fresh").mkdir()
    fresh = SummaryWriter(tmp_path / "fresh")
    fresh.write(rows)  # every row serialised whole, as it is now
    fresh.close()
    writer.compact([("GOOG", "a"), ("GOOG", "b"), ("GOOG", "c")])
    assert (tmp_path / "summary.jsonl").read_text() == (tmp_path / "fresh" / "summary.jsonl").read_text()
    assert json.loads((tmp_path / "summary.jsonl").read_text().splitlines()[0])["validation"] == added


def test_a_local_sweep_leaves_numbas_thread_count_as_it_found_it(settings: Settings, tmp_path: Path) -> None:
    import numba

    config = parse_sweep_config(CONFIG + "execution: {backend: local, workers: 2}\n")
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        result = run_sweep(
            config, tmp_path / "out", settings=settings, deps=build_sweep_deps(settings), write_frame=False
        )
        assert result.ok == 6
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)


def test_validate_sets_matches_building_every_set() -> None:
    """The memoised check refuses exactly the sets get_strategy refuses, with its message."""
    from app.backtest.sweeps.grid import ParameterSet
    from app.backtest.sweeps.runner import _validate_sets
    from app.errors import AiTraderError
    from app.strategies import get_strategy

    params: list[dict[str, object]] = [
        {"fast": 5, "slow": 10},
        {"fast": 10, "slow": 5},
        {"fast": 5.0, "slow": 10},
        {"fast": 5.5, "slow": 10},
        {"fast": True, "slow": 10},
        {"fast": 1, "slow": True},
        {"fast": "7", "slow": 10},
        {"fast": "x", "slow": 10},
        {"fast": -0.0, "slow": 3},
        {"fast": 0.0, "slow": 3},
        {"fast": 5, "slow": 10, "nope": 1},
        {"fast": [1], "slow": 10},
        {"fast": 10**12, "slow": 10**12 + 1},
        {"slow": 30},
        {"fast": 5, "slow": 10},
    ]
    sets = [ParameterSet(f"s{i}", p) for i, p in enumerate(params)]

    def built(strategy: str) -> dict[str, str]:
        errors = {}
        for item in sets:
            try:
                get_strategy(strategy, item.params)
            except AiTraderError as exc:
                errors[item.set_id] = str(exc)
        return errors

    expected = built("sma_cross")
    assert expected and len(expected) < len(sets)
    assert _validate_sets("sma_cross", sets) == expected
    unknown = built("no_such_strategy")
    assert len(unknown) == len(sets)
    assert _validate_sets("no_such_strategy", sets) == unknown
