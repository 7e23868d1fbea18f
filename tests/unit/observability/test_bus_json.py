"""``ai-trader bus lag --json`` and ``ai-trader bus dead-letters --json`` on the embedded bus."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.bootstrap import build_bus
from app.bus.envelope import Envelope
from app.bus.topology import topology
from app.cli.main import app
from app.config import load_settings

runner = CliRunner()


def _publish_and_dead_letter_one() -> str:
    """Publish three events on exec.orders, dead-letter the first; return its event id."""
    bus = build_bus(load_settings())
    try:
        events = [Envelope.wrap("order.intent", {"n": i}, partition_key="AAPL") for i in range(3)]
        bus.publish("exec.orders", events)
        consumer = bus.consumer("exec.orders", "orchestrator")
        try:
            first = consumer.poll(max_events=1, timeout_s=2.0)[0]
            consumer.dead_letter(first, "invalid order event: side: Field required")
            consumer.checkpoint([first])
        finally:
            consumer.close()
    finally:
        bus.close()
    return events[0].event_id


def test_lag_json_has_totals_and_partitions() -> None:
    _publish_and_dead_letter_one()
    result = runner.invoke(app, ["bus", "lag", "exec.orders", "orchestrator", "--json"])
    assert result.exit_code == 0, result.output
    lag = json.loads(result.stdout)
    assert list(lag) == ["hub", "group", "events_behind", "seconds_behind", "partitions"]
    assert (lag["hub"], lag["group"], lag["events_behind"]) == ("exec.orders", "orchestrator", 2)
    assert lag["seconds_behind"] >= 0
    assert {tuple(p) for p in lag["partitions"]} == {("partition", "events_behind", "seconds_behind")}
    assert sum(p["events_behind"] for p in lag["partitions"]) == 2
    hub = next(h for h in topology(load_settings()) if h.name == "exec.orders")
    assert [p["partition"] for p in lag["partitions"]] == list(range(hub.partitions))


def test_lag_json_for_an_idle_group_is_zero() -> None:
    result = runner.invoke(app, ["bus", "lag", "exec.orders", "orchestrator", "--json"])
    assert result.exit_code == 0, result.output
    lag = json.loads(result.stdout)
    assert (lag["events_behind"], lag["seconds_behind"]) == (0, 0.0)


def test_dead_letters_json_lists_reason_and_raw_event() -> None:
    event_id = _publish_and_dead_letter_one()
    result = runner.invoke(app, ["bus", "dead-letters", "exec.orders", "orchestrator", "--json"])
    assert result.exit_code == 0, result.output
    (letter,) = json.loads(result.stdout)
    assert list(letter) == [
        "hub",
        "group",
        "partition",
        "offset",
        "reason",
        "recorded_at",
        "raw",
        "id",
        "replayed_at",
    ]
    assert letter["id"] and letter["replayed_at"] is None  # what `dead-letters replay --id` takes
    assert (letter["hub"], letter["group"]) == ("exec.orders", "orchestrator")
    assert letter["reason"] == "invalid order event: side: Field required"
    assert isinstance(letter["partition"], int) and isinstance(letter["offset"], str)
    assert Envelope.from_bytes(letter["raw"]).event_id == event_id
    assert letter["recorded_at"].endswith("+00:00")

    empty = runner.invoke(app, ["bus", "dead-letters", "exec.orders", "api", "--json"])
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.stdout) == []
