"""Envelope round trips, decoding failures as data, and stable partitioning."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from app.bus.decoding import decode_envelope, decode_envelopes, delivered
from app.bus.envelope import Envelope
from app.bus.partitioning import partition_for


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
