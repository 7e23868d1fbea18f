"""``--publish`` on the data commands: fetched rows reach bars.raw, signals.enriched, regimes.snapshot."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from app.backtest.run_breakout import main as run_breakout
from app.bootstrap import build_bus
from app.bus.ports import Delivered
from app.cli.data import smoke_main as dal_smoke
from app.cli.main import app
from app.config import load_settings
from tests.servers import free_port

runner = CliRunner()
HUBS = ("bars.raw", "signals.enriched", "regimes.snapshot")


def _drain(hub: str) -> list[Delivered]:
    """Everything on ``hub`` through a fresh group member (and checkpoint it)."""
    bus = build_bus(load_settings())
    consumer = bus.consumer(hub, "orchestrator")
    out: list[Delivered] = []
    while batch := consumer.poll(1000, 0.3):
        out.extend(batch)
        consumer.checkpoint(batch)
    consumer.close()
    bus.close()
    return out


def _fetch(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["data", "fetch", "AAPL", "--vendor", "synthetic", "--json", *args])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def test_data_fetch_publish_puts_every_row_on_its_hub_keyed_by_symbol() -> None:
    report = _fetch("--start", "2024-01-02", "--end", "2024-03-28", "--publish")
    n = report["bars"]
    assert n == report["signals"] == report["regimes"] > 50
    assert report["published"] == dict.fromkeys(HUBS, n)
    events = {hub: _drain(hub) for hub in HUBS}
    for delivered in events.values():
        assert len(delivered) == n
        assert {d.envelope.partition_key for d in delivered if d.envelope} == {"AAPL"}
        assert len({d.partition for d in delivered}) == 1
    bars = [d.envelope.payload for d in events["bars.raw"] if d.envelope]
    assert [b["timestamp"][:10] for b in bars][:2] == ["2024-01-02", "2024-01-03"]
    assert bars[-1]["close"] == pytest.approx(report["last_close"])
    regimes = [d.envelope.payload for d in events["regimes.snapshot"] if d.envelope]
    assert regimes[-1]["regime"] == report["last_regime"]

    # the same bars published again carry the same event ids: consumers dedupe them
    first_ids = [d.envelope.event_id for d in events["bars.raw"] if d.envelope]
    assert len(set(first_ids)) == n
    _fetch("--start", "2024-01-02", "--end", "2024-03-28", "--publish")
    again = [d.envelope.event_id for d in _drain("bars.raw") if d.envelope]
    assert again == first_ids


def test_data_fetch_without_publish_leaves_the_bus_alone() -> None:
    report = _fetch("--start", "2024-01-02", "--end", "2024-01-31")
    assert "published" not in report and report["cache_path"]
    assert _drain("bars.raw") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vendor", "nope"], "unknown market-data vendor 'nope'"),
        (["--vendor", "synthetic", "--start", "2024-13-01"], "--start"),
        (
            ["--vendor", "synthetic", "--start", "2024-01-02", "--end", "2024-01-05T10:00:00Z"],
            "both be dates",
        ),
    ],
)
def test_data_fetch_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["data", "fetch", "AAPL", *args])
    assert result.exit_code == 2
    assert message in result.output


def _smoke(out: Path, *extra: str) -> int:
    argv = ["--output-dir", str(out), "--as-of", "2024-03-28", "--check", "synthetic:AAPL:1Day:30", *extra]
    return dal_smoke([*argv, "--check", "synthetic:MSFT:5Min:3"], console=Console(file=io.StringIO()))


def _report(out: Path) -> dict[str, Any]:
    (path,) = out.glob("dal_smoke_*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_dal_smoke_publish_reports_counts_and_tags_the_run(tmp_path: Path) -> None:
    assert _smoke(tmp_path / "out", "--publish") == 0
    report = _report(tmp_path / "out")
    assert report["published"] is True
    by_symbol = {c["symbol"]: c for c in report["checks"]}
    for check in by_symbol.values():
        assert check["published"] == dict.fromkeys(HUBS, check["bars"])
    signals = _drain("signals.enriched")
    assert len(signals) == sum(c["bars"] for c in by_symbol.values())
    assert {d.envelope.correlation_id for d in signals if d.envelope} == {report["run_id"]}
    assert {d.envelope.payload["interval"] for d in signals if d.envelope} == {"1Day", "5Min"}


def test_dal_smoke_publish_failure_fails_the_check_and_keeps_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    monkeypatch.setenv("DAL_MAX_RETRIES", "1")
    assert _smoke(tmp_path / "out", "--publish") == 1
    report = _report(tmp_path / "out")
    for check in report["checks"]:
        assert check["status"] == "error" and check["error"].startswith("publish: ")
        assert check["bars"] > 0 and check["published"] is None


def test_run_breakout_publish_tags_events_with_the_run_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_NO_SAVE", "1")
    argv = [
        "--symbol", "AAPL", "--start", "2023-01-03", "--end", "2023-02-03", "--strategy", "momentum",
        "--dal-vendor", "synthetic", "--publish", "--json",
    ]  # fmt: skip
    assert run_breakout(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["published"] == dict.fromkeys(HUBS, summary["bars"])
    bars = _drain("bars.raw")
    assert len(bars) == summary["bars"]
    assert {d.envelope.correlation_id for d in bars if d.envelope} == {summary["run_id"]}
    assert {d.envelope.payload["vendor"] for d in bars if d.envelope} == {"synthetic"}
