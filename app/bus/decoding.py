"""Turn raw event bytes into a :class:`~app.bus.ports.Delivered` without ever raising."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from app.bus.envelope import Envelope
from app.bus.ports import Delivered

__all__ = ["decode_envelope", "delivered"]


def decode_envelope(raw: bytes) -> tuple[Envelope | None, str | None]:
    """Return ``(envelope, None)`` or ``(None, reason)`` when the bytes are not a valid envelope."""
    try:
        return Envelope.from_bytes(raw), None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'envelope'}: {err['msg']}" for err in exc.errors()
        )
        return None, f"invalid envelope: {problems}"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"not an envelope (bad JSON or encoding): {exc}"


def delivered(
    hub: str, partition: int, offset: str, sequence: int, enqueued_at: datetime, raw: bytes
) -> Delivered:
    """Build a :class:`Delivered`, decoding the envelope (or recording why it failed)."""
    envelope, error = decode_envelope(raw)
    return Delivered(hub, partition, offset, sequence, enqueued_at, raw, envelope, error)
