"""The versioned envelope every bus event travels in.

The envelope is a ``msgspec.Struct``: decoding and validating it on delivery costs about a
third of what a pydantic model does, and every consumer pays that per event. What the event
*carries* is still validated by pydantic: producers wrap pydantic models (dumped as JSON-safe
data), and consumers validate ``payload`` with the domain model of the event ``type`` (for
example :class:`app.execution.models.OrderEvent`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel

__all__ = ["Envelope", "EnvelopeError"]

EnvelopeError = msgspec.ValidationError
"""Raised by :meth:`Envelope.wrap` for fields out of bounds (a ``ValueError``)."""

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_Key = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Version = Annotated[int, msgspec.Meta(ge=1)]
_Utc = Annotated[datetime, msgspec.Meta(tz=True)]


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Event id, type, schema version, UTC creation time, partition key, correlation id, payload.

    ``event_id`` makes handlers idempotent: a consumer that sees the same id twice (at-least-
    once delivery) must not apply it twice. Build envelopes with :meth:`wrap` (which checks
    every bound) and read them with :meth:`from_bytes`; an envelope is immutable.
    """

    event_id: _Id = msgspec.field(default_factory=_new_id)
    type: _Id
    schema_version: _Version = 1
    created_at: _Utc = msgspec.field(default_factory=_now)
    partition_key: _Key
    correlation_id: str | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        type: str,
        payload: BaseModel | dict[str, Any],
        *,
        partition_key: str,
        correlation_id: str | None = None,
        event_id: str | None = None,
        schema_version: int = 1,
    ) -> Envelope:
        """Build an envelope around a pydantic model (dumped as JSON-safe data) or a dict.

        Raises :data:`EnvelopeError` naming the field when a bound is broken (an empty type,
        a partition key over 128 characters, a schema version below 1...).
        """
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        fields: dict[str, Any] = {
            "type": type,
            "payload": data,
            "partition_key": partition_key,
            "correlation_id": correlation_id,
            "schema_version": schema_version,
        }
        if event_id is not None:
            fields["event_id"] = event_id
        return msgspec.convert(fields, cls)

    def to_bytes(self) -> bytes:
        return _ENCODER.encode(self)

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> Envelope:
        """Parse an envelope; raises ``msgspec.ValidationError`` or ``msgspec.DecodeError``
        (both ``ValueError``) when the bytes are not JSON or not a valid envelope."""
        return _DECODER.decode(raw)


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Envelope)
