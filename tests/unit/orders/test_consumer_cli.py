from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.cli.up import components
from app.config import Settings
from app.workers.order_consumer import ACCEPTED_KEYS, main

runner = CliRunner()


def test_cli_rejects_an_unknown_key_with_exit_2_and_the_accepted_keys() -> None:
    result = runner.invoke(app, ["consumer", "orders", "EH_HUB_JOBS=backtest.jobs"])
    assert result.exit_code == 2
    assert "unknown key 'EH_HUB_JOBS'" in result.output
    assert "EH_CONSUMER_GROUP" in result.output and "IDLE_EXIT_SECONDS" in result.output


def test_runbook_keys_are_all_accepted() -> None:
    for key in ("EH_FQDN", "EH_HUB_ORDERS", "EH_CONSUMER_GROUP", "STORAGE_ACCOUNT", "CHECKPOINT_CONTAINER"):
        assert key in ACCEPTED_KEYS
    assert set(ACCEPTED_KEYS) - {"IDLE_EXIT_SECONDS", "BATCH_SIZE"} <= set(Settings.model_fields)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["BATCH_SIZE=0"], "BATCH_SIZE"),
        (["IDLE_EXIT_SECONDS=never"], "IDLE_EXIT_SECONDS"),
        (["EH_FQDN=https://x/y"], "EH_FQDN"),
        (["orders"], "expected KEY=VALUE"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_consumes_the_embedded_bus_and_exits_when_idle(tmp_path: Path) -> None:
    result = runner.invoke(app, ["consumer", "orders", "EH_HUB_ORDERS=exec.orders", "IDLE_EXIT_SECONDS=0.3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "ai-trader.db").exists()
    assert (tmp_path / "var" / "bus.db").exists()


def test_up_starts_the_order_consumer(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, DATA_DIR=tmp_path)  # type: ignore[call-arg]
    started = {c.name: c.argv for c in components(settings, "127.0.0.1")}
    assert started["order-consumer"][-2:] == ["consumer", "orders"]


def test_up_starts_the_venue_updates_worker_with_the_others(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, DATA_DIR=tmp_path)  # type: ignore[call-arg]
    started = {c.name: c.argv for c in components(settings, "127.0.0.1")}
    assert started["venue-updates"][1:] == ["-m", "app.cli", "venue", "stream"]
    assert list(started).index("venue-updates") < list(started).index("scheduler")
