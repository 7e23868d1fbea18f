"""Envelope round trips, decoding failures as data, and stable partitioning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from app.bus.decoding import decode_envelope, decode_envelopes, delivered
from app.bus.envelope import Envelope, EnvelopeError
from app.bus.partitioning import partition_for
from app.bus.redis.client import _body, _stream_replies


class _Bar(BaseModel):
    symbol: str
    close: float


def test_envelope_round_trips_a_pydantic_payload() -> None:
    envelope = Envelope.wrap("bar", _Bar(symbol="AAPL", close=1.5), partition_key="AAPL", correlation_id="c1")
    decoded, error = decode_envelope(envelope.to_bytes())
    assert error is None
    assert decoded == envelope
    assert decoded.payload == {"symbol": "AAPL", "close": 1.5}


def test_bad_json_is_reported_not_raised() -> None:
    envelope, error = decode_envelope(b"{not json")
    assert envelope is None
    assert error is not None and error.startswith("not an envelope")


def test_missing_fields_are_named_in_the_reason() -> None:
    envelope, error = decode_envelope(b'{"type": "x", "payload": {}}')
    assert envelope is None
    assert error is not None and "partition_key" in error


def test_delivered_carries_error_for_undecodable_bytes() -> None:
    item = delivered("h", 0, "1", 1, datetime.now(UTC), b"\xff\xfe")
    assert item.envelope is None
    assert item.error


def test_partition_for_is_stable_and_in_range() -> None:
    assert partition_for("AAPL", 6) == partition_for("AAPL", 6)
    assert {partition_for(f"S{i}", 4) for i in range(100)} == {0, 1, 2, 3}


def test_batch_decoding_matches_one_by_one_and_isolates_bad_events() -> None:
    good = [Envelope.wrap("t", {"n": i}, partition_key="K").to_bytes() for i in range(3)]
    sneaky = good[0] + b"," + good[1]  # two JSON values in one body must not shift the others
    for raws in ([*good], [good[0], b"{bad", good[2]], [sneaky, good[2]], [good[0], b"", good[1]]):
        assert decode_envelopes(raws) == [decode_envelope(raw) for raw in raws]
    assert decode_envelopes([]) == []


def test_wrap_checks_every_bound_and_names_the_field() -> None:
    for kwargs, field in (
        ({"type": "", "partition_key": "K"}, "type"),
        ({"type": "t", "partition_key": "K" * 129}, "partition_key"),
        ({"type": "t", "partition_key": "K", "schema_version": 0}, "schema_version"),
        ({"type": "t", "partition_key": "K", "event_id": ""}, "event_id"),
    ):
        with pytest.raises(EnvelopeError, match=field):
            Envelope.wrap(payload={}, **kwargs)  # type: ignore[arg-type]


def test_envelope_wire_form_is_stable_json() -> None:
    created = datetime(2026, 11, 25, 14, 30, 0, 123456, tzinfo=UTC)
    raw = (
        b'{"event_id":"e1","type":"t","schema_version":2,"created_at":"2026-11-25T14:30:00.123456Z",'
        b'"partition_key":"AAPL","correlation_id":null,"payload":{"qty":"10"}}'
    )
    envelope = Envelope.from_bytes(raw)
    assert (envelope.event_id, envelope.schema_version, envelope.created_at) == ("e1", 2, created)
    assert envelope.to_bytes() == raw


def test_reasons_name_the_bad_field() -> None:
    base = b'"event_id":"e","type":"t","partition_key":"K","payload":{}'
    cases = {
        b"{" + base + b',"created_at":"2026-01-01T00:00:00"}': "created_at",
        b'{"event_id":"e","type":"t","partition_key":"K","payload":[]}': "payload",
        b"{" + base + b',"extra":1}': "unknown field `extra`",
    }
    for raw, needle in cases.items():
        envelope, error = decode_envelope(raw)
        assert envelope is None and error is not None
        assert error.startswith("invalid envelope") and needle in error


def test_redis_reply_parsing_handles_resp2_resp3_and_foreign_fields() -> None:
    entries = [[b"1-0", [b"e", b"body"]], [b"2-0", [b"x", b"1", b"e", b"other"]]]
    assert _stream_replies([[b"s0", entries], [b"s1", None]]) == [(b"s0", entries), (b"s1", [])]
    assert _stream_replies({b"s0": entries}) == [(b"s0", entries)]
    assert _stream_replies(None) == []
    assert [_body(fields) for _, fields in entries] == [b"body", b"other"]
    assert _body([b"x", b"1"]) == b""
