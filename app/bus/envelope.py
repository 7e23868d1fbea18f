"""The versioned envelope every bus event travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["Envelope"]


def _new_id() -> str:
    return uuid.uuid4().hex


class Envelope(BaseModel):
    """Event id, type, schema version, UTC creation time, partition key, correlation id, payload.

    ``event_id`` makes handlers idempotent: a consumer that sees the same id twice (at-least-
    once delivery) must not apply it twice.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(default_factory=_new_id)
    type: Annotated[str, Field(min_length=1, max_length=64)]
    schema_version: Annotated[int, Field(ge=1)] = 1
    created_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    partition_key: Annotated[str, Field(min_length=1, max_length=128)]
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
        """Build an envelope around a pydantic model (dumped as JSON-safe data) or a dict."""
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        extra: dict[str, Any] = {} if event_id is None else {"event_id": event_id}
        return cls(
            type=type,
            payload=data,
            partition_key=partition_key,
            correlation_id=correlation_id,
            schema_version=schema_version,
            **extra,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> Envelope:
        """Parse an envelope; raises ``pydantic.ValidationError`` or ``ValueError`` when malformed."""
        return cls.model_validate_json(raw)
