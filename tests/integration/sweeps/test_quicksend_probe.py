"""``check_quicksend_eventhubs.py --hub backtest.jobs`` leaves the sweep job consumer unharmed.

The runbook's script sends its ``diagnostics.quicksend`` probe on the jobs hub through the
real local bus; the sweep job consumer must checkpoint past it without a dead letter, and
still dispatch the real job published after it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from app.backtest.sweeps.jobs import SweepJobCreate, SweepJobService
from app.bootstrap import build_blob_store, build_bus, build_database
from app.bus.ports import Bus
from app.config import Settings
from app.workers.sweep_job_consumer import LocalDispatcher, SweepJobConsumer
from tests.servers import REPO

SCRIPT = REPO / "scripts" / "check_quicksend_eventhubs.py"
CONFIG = "configs/backtest/momentum_sweep.yaml"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_quicksend_eventhubs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def probe_settings(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The local bus at a path the script (which reads the environment) opens too."""
    bus_url = f"local://{tmp_path}/bus.db"
    monkeypatch.setenv("BUS_URL", bus_url)
    return make_settings(BUS_URL=bus_url)


@pytest.fixture
def probe_bus(probe_settings: Settings) -> Iterator[Bus]:
    created = build_bus(probe_settings)
    yield created
    created.close()


def test_quicksend_probe_on_the_jobs_hub_is_skipped_and_checkpointed(
    probe_settings: Settings,
    probe_bus: Bus,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub, group = probe_settings.EH_HUB_JOBS, probe_settings.EH_CONSUMER_GROUP_SWEEP
    assert _script().main(["--hub", hub, "--timeout", "30"]) == 0
    assert "OK: event" in capsys.readouterr().out

    database = build_database(probe_settings)
    database.upgrade()
    try:
        service = SweepJobService(probe_settings, database, build_blob_store(probe_settings), probe_bus)
        job = service.submit(SweepJobCreate(config_path=CONFIG))  # a real job after the probe
        done = tmp_path / "ok.py"
        done.write_text("import sys\nsys.exit(0)\n")
        consumer = SweepJobConsumer(
            probe_settings, probe_bus, service, LocalDispatcher(probe_settings, script=done)
        )
        with caplog.at_level(logging.INFO, logger="app.workers.sweep_job_consumer"):
            assert consumer.run(idle_exit_s=0.3, poll_timeout_s=0.1) == 2
        assert service.get(job.job_id).status == "dispatched"
    finally:
        database.dispose()

    assert probe_bus.dead_letters(hub, group) == []
    assert any(r.getMessage() == "skipped a hub health probe" for r in caplog.records)
    again = probe_bus.consumer(hub, group)
    try:
        assert again.poll(max_events=10, timeout_s=0.3) == []  # checkpointed past the probe
        assert all(lag.events_behind == 0 for lag in again.lag())
    finally:
        again.close()
