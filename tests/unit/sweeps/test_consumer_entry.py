"""The consumer's command line: accepted keys, bad arguments, and its place in ``ai-trader up``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.up import components
from app.config import Settings
from app.workers.sweep_job_consumer import ACCEPTED_KEYS, main
from app.workers.sweep_job_entry import output_dir_for


def test_unknown_key_exits_2_listing_the_accepted_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["EH_HUB_ORDERS=exec.orders"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'EH_HUB_ORDERS'" in err and "SWEEP_JOB_RESOURCE_ID" in err


def test_malformed_idle_exit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["IDLE_EXIT_SECONDS=soon"]) == 2
    assert "IDLE_EXIT_SECONDS" in capsys.readouterr().err


def test_runbook_keys_are_accepted() -> None:
    runbook = {
        "EH_FQDN",
        "EH_HUB_JOBS",
        "EH_CONSUMER_GROUP_SWEEP",
        "SWEEP_JOB_RESOURCE_ID",
        "SWEEP_JOB_CONTAINER",
        "STORAGE_ACCOUNT",
        "CHECKPOINT_CONTAINER",
    }
    assert runbook <= ACCEPTED_KEYS
    assert ACCEPTED_KEYS - {"IDLE_EXIT_SECONDS"} <= set(Settings.model_fields)


def test_up_starts_the_sweep_consumer(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, DATA_DIR=tmp_path)  # type: ignore[call-arg]
    started = {c.name: c.argv for c in components(settings, "127.0.0.1")}
    # through the CLI, so the module's logger is app.workers.sweep_job_consumer, not __main__
    assert started["sweep-consumer"][1:] == ["-m", "app.cli", "consumer", "sweeps"]


def test_module_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.workers.sweep_job_consumer", "NOT_A_KEY=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "unknown key 'NOT_A_KEY'" in done.stderr


def test_output_dir_rules(tmp_path: Path) -> None:
    def settings(**values: object) -> Settings:
        return Settings(_env_file=None, ARTIFACTS_DIR=tmp_path, **values)  # type: ignore[call-arg]

    assert output_dir_for(settings(), "s") == tmp_path / "backtests" / "sweeps" / "s"
    assert output_dir_for(settings(OUTPUT_DIR="o"), "s") == Path("o")
    assert output_dir_for(settings(OUTPUT_DIR="o", SWEEP_OUTPUT_DIR="w"), "s") == Path("w")
    assert output_dir_for(settings(SWEEP_OUTPUT_DIR="w", SWEEP_JOB_ID="j1"), "s") == Path("w") / "j1"
    assert output_dir_for(settings(SWEEP_JOB_ID="j1"), "s") == tmp_path / "backtests" / "sweeps" / "j1"
