"""Every JSON log line names its component; uvicorn's colour copy is dropped; stats are fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.observability import COMPONENT_ENV, JsonFormatter, configure_logging, resolve_component

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_root_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(COMPONENT_ENV, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit(capsys: pytest.CaptureFixture[str], **extra: Any) -> dict[str, Any]:
    capsys.readouterr()
    logging.getLogger("app.test").info("hello %s", "there", extra=extra)
    (line,) = capsys.readouterr().err.splitlines()
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_component_comes_from_the_environment_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("INFO")
    assert _emit(capsys)["component"] == "cli"
    configure_logging("INFO", component="scheduler")
    assert _emit(capsys)["component"] == "scheduler"
    monkeypatch.setenv(COMPONENT_ENV, "order-consumer")
    configure_logging("INFO", component="cli")
    line = _emit(capsys)
    assert list(line)[:5] == ["ts", "level", "logger", "msg", "component"]
    assert (line["component"], line["msg"]) == ("order-consumer", "hello there")
    monkeypatch.setenv(COMPONENT_ENV, "  ")
    assert resolve_component("api") == "api"


def test_uvicorn_colour_copy_is_dropped_and_other_fields_kept(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", component="api")
    line = _emit(capsys, color_message="\x1b[1mhello\x1b[0m %s", status=200)
    assert "color_message" not in line
    assert line["status"] == 200 and line["component"] == "api"


def test_dataclass_fields_render_as_objects_not_reprs() -> None:
    @dataclass
    class Stats:
        events: int
        retries: int

    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, "done", (), None)
    record.stats = Stats(events=3, retries=0)
    assert json.loads(JsonFormatter("cli").format(record))["stats"] == {"events": 3, "retries": 0}
    assert "component" not in json.loads(JsonFormatter().format(record))


def test_order_consumer_stopped_line_carries_its_stats_as_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    result = runner.invoke(app, ["consumer", "orders", "IDLE_EXIT_SECONDS=0.2"])
    assert result.exit_code == 0, result.output
    (stopped,) = [r for r in caplog.records if r.getMessage() == "order consumer stopped"]
    line = json.loads(JsonFormatter("order-consumer").format(stopped))
    assert "stats" not in line
    assert (line["hub"], line["group"]) == ("exec.orders", "orchestrator")
    fields = ("batches", "events", "orders", "fills_inserted", "dead_lettered", "retries")
    assert {k: line[k] for k in fields} == dict.fromkeys(fields, 0)
