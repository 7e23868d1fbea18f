"""``ai-trader bus dead-letters replay`` on every backend: publish again, mark, never twice."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from app.bus.envelope import Envelope
from app.bus.ports import Bus, Consumer, Delivered
from app.bus.replay import replay_dead_letters
from app.cli.main import app as cli
from app.errors import InputError

ORDERS = "exec.orders"
GROUP = "orchestrator"


def _drain(consumer: Consumer, expected: int, timeout_s: float = 10.0) -> list[Delivered]:
    got: list[Delivered] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        got += consumer.poll(expected - len(got), 0.2)
    return got


def _dead_letter_two(bus: Bus) -> tuple[Envelope, bytes]:
    """One good event the consumer refused (as a read-only database once made it) and one
    that is not an envelope; both dead-lettered, everything checkpointed."""
    good = Envelope.wrap("order.intent", {"n": 1}, partition_key="AAPL", event_id="evt-replay-1")
    bad = b'{"type": "order.intent", "payload": "not a dict"}'
    bus.publish(ORDERS, [good])
    bus.publish_raw(ORDERS, "AAPL", bad)  # type: ignore[attr-defined]
    consumer = bus.consumer(ORDERS, GROUP)
    got = _drain(consumer, 2)
    assert len(got) == 2
    for delivered in got:
        reason = "database refused the event: read-only" if delivered.envelope else (delivered.error or "")
        consumer.dead_letter(delivered, reason)
    consumer.checkpoint(got)
    consumer.close()
    return good, bad


def test_replay_publishes_valid_dead_letters_again_and_marks_them(open_bus: Callable[[], Bus]) -> None:
    bus = open_bus()
    good, bad = _dead_letter_two(bus)
    letters = bus.dead_letters(ORDERS, GROUP)
    assert len(letters) == 2 and all(letter.id for letter in letters)
    assert all(letter.replayed_at is None for letter in letters)

    with pytest.raises(InputError, match="--id"):
        replay_dead_letters(bus, ORDERS, GROUP)
    with pytest.raises(InputError, match="not a dead letter"):
        replay_dead_letters(bus, ORDERS, GROUP, ids=["no-such-id"])
    dry = replay_dead_letters(bus, ORDERS, GROUP, replay_all=True, dry_run=True)
    assert [letter.raw for letter in dry.replayed] == [good.to_bytes()]

    outcome = replay_dead_letters(bus, ORDERS, GROUP, replay_all=True)
    assert [letter.raw for letter in outcome.replayed] == [good.to_bytes()]
    assert [letter.raw for letter, _ in outcome.skipped] == [bad]

    consumer = bus.consumer(ORDERS, GROUP)
    again = _drain(consumer, 1)
    assert [d.envelope.event_id for d in again if d.envelope] == ["evt-replay-1"]  # the same event
    consumer.checkpoint(again)
    assert consumer.poll(10, 0.3) == []
    consumer.close()

    marked = {letter.raw: letter.replayed_at for letter in bus.dead_letters(ORDERS, GROUP)}
    assert marked[good.to_bytes()] is not None and marked[bad] is None
    second = replay_dead_letters(bus, ORDERS, GROUP, replay_all=True)
    assert second.replayed == []
    assert any("already replayed" in why for _, why in second.skipped)
    bus.close()


def test_cli_lists_by_default_and_replays_by_id(
    open_bus: Callable[[], Bus], bus_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in bus_env.items():
        monkeypatch.setenv(key, value)
    bus = open_bus()
    good, _ = _dead_letter_two(bus)
    runner = CliRunner()
    listed = runner.invoke(cli, ["bus", "dead-letters", ORDERS, GROUP, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    target = next(row for row in rows if row["raw"] == good.to_bytes().decode())
    assert target["replayed_at"] is None

    replayed = runner.invoke(
        cli, ["bus", "dead-letters", "replay", ORDERS, GROUP, "--id", target["id"], "--json"]
    )
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout) == {"dry_run": False, "replayed": [target["id"]], "skipped": []}
    unknown = runner.invoke(cli, ["bus", "dead-letters", "replay", ORDERS, GROUP, "--id", "nope"])
    assert unknown.exit_code == 2 and "not a dead letter" in unknown.output
    neither = runner.invoke(cli, ["bus", "dead-letters", "replay", ORDERS, GROUP])
    assert neither.exit_code == 2
    relisted = json.loads(runner.invoke(cli, ["bus", "dead-letters", "list", ORDERS, GROUP, "--json"]).stdout)
    assert next(row for row in relisted if row["id"] == target["id"])["replayed_at"] is not None
    bus.close()
