"""Turn raw event bytes into a :class:`~app.bus.ports.Delivered` without ever raising."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from app.bus.envelope import Envelope
from app.bus.ports import Delivered

__all__ = ["decode_batch", "decode_envelope", "decode_envelopes", "delivered", "delivered_batch"]

_ENVELOPE_LIST = msgspec.json.Decoder(list[Envelope])


def decode_envelope(raw: bytes) -> tuple[Envelope | None, str | None]:
    """Return ``(envelope, None)`` or ``(None, reason)`` when the bytes are not a valid envelope."""
    try:
        return Envelope.from_bytes(raw), None
    except msgspec.ValidationError as exc:
        return None, f"invalid envelope: {_where(str(exc))}"
    except msgspec.DecodeError as exc:
        return None, f"not an envelope (bad JSON or encoding): {exc}"


def _where(message: str) -> str:
    """``Object missing required field `type``` stays; `` - at `$.payload``` becomes a prefix."""
    text, sep, path = message.rpartition(" - at `")
    if not sep:
        return message
    field = path.rstrip("`").removeprefix("$").lstrip(".") or "envelope"
    return f"{field}: {text}"


def delivered(
    hub: str, partition: int, offset: str, sequence: int, enqueued_at: datetime, raw: bytes
) -> Delivered:
    """Build a :class:`Delivered`, decoding the envelope (or recording why it failed)."""
    envelope, error = decode_envelope(raw)
    return Delivered(hub, partition, offset, sequence, enqueued_at, raw, envelope, error)


def decode_envelopes(raws: Sequence[bytes]) -> list[tuple[Envelope | None, str | None]]:
    """Decode many events in one pass; any failure falls back to event-by-event decoding.

    The joined JSON array must have exactly one element per event: a body that is not one
    JSON value changes the count (or breaks the array) and sends the batch to the fallback.
    """
    envelopes = decode_batch(raws)
    if envelopes is None:
        return [decode_envelope(raw) for raw in raws]
    return [(envelope, None) for envelope in envelopes]


def decode_batch(raws: Sequence[bytes]) -> list[Envelope] | None:
    """All of ``raws`` as envelopes in one decoder call, or ``None`` when any one is bad."""
    if not raws:
        return []
    try:
        envelopes = _ENVELOPE_LIST.decode(b"[" + b",".join(raws) + b"]")
    except msgspec.DecodeError:
        return None
    return envelopes if len(envelopes) == len(raws) else None


def delivered_batch(hub: str, rows: Sequence[tuple[int, str, int, datetime, bytes]]) -> list[Delivered]:
    """Build :class:`Delivered` for ``(partition, offset, sequence, enqueued_at, raw)`` rows."""
    decoded = decode_envelopes([row[4] for row in rows])
    return [
        Delivered(hub, partition, offset, sequence, enqueued_at, raw, envelope, error)
        for (partition, offset, sequence, enqueued_at, raw), (envelope, error) in zip(
            rows, decoded, strict=True
        )
    ]
