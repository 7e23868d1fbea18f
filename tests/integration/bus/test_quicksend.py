"""scripts/check_quicksend_eventhubs.py on every backend: round trip, peek, failure exit codes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from app.bus.diagnostics import QUICKSEND_EVENT
from app.bus.envelope import Envelope
from app.bus.ports import Bus
from tests.servers import REPO

SCRIPT = REPO / "scripts" / "check_quicksend_eventhubs.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_quicksend_eventhubs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quicksend_round_trip_and_peek(
    bus_env: dict[str, str],
    open_bus: Callable[[], Bus],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in bus_env.items():
        monkeypatch.setenv(key, value)
    open_bus().publish("exec.orders", [Envelope.wrap("order.intent", {"n": 1}, partition_key="AAPL")])
    script = _script()

    assert script.main(["--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "OK: event" in out and "through diagnostics" in out
    assert "1 older event(s) skipped" in out

    assert script.main(["--peek", "5"]) == 0
    peek = capsys.readouterr().out
    assert "exec.orders: newest 2 event(s)" in peek
    assert QUICKSEND_EVENT in peek and "order.intent" in peek


@pytest.mark.parametrize("backend", ["local"])
def test_script_runs_standalone_and_reports_config_errors(bus_env: dict[str, str]) -> None:
    env = {**os.environ, **bus_env}
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), "--hub", "backtest.jobs"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "on backtest.jobs" in ok.stdout

    unknown = subprocess.run(
        [sys.executable, str(SCRIPT), "--hub", "nope"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 1
    assert "unknown hub 'nope'" in unknown.stderr

    bad = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=REPO,
        env={**env, "BUS_URL": "ftp://x"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "BUS_URL" in bad.stderr


@pytest.mark.parametrize("backend", ["redis"])
def test_quicksend_fails_with_exit_1_when_the_bus_is_down(bus_env: dict[str, str]) -> None:
    env = {**os.environ, **bus_env, "BUS_URL": "redis://127.0.0.1:1/0"}
    down = subprocess.run(
        [sys.executable, str(SCRIPT), "--timeout", "2"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert down.returncode == 1
    assert "FAILED" in down.stderr
