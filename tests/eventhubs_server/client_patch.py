"""Pad the azure-eventhub pure-Python AMQP decoder for peers that omit trailing null fields.

AMQP 1.0 lets an encoder drop trailing null fields of a performative's list (proton does),
but ``azure.eventhub._pyamqp._decode.decode_frame`` builds ``fields`` with only the encoded
count, and for a transfer appends the payload after them: with fields missing, the payload
lands at the wrong index. It also reads ``list0`` (0x45) as if it had a count byte. Azure's
service always sends every field, so this only matters against our proton test server.

:func:`install` swaps in a decoder that pads each performative to its full field count.
It checks the original first and fails loudly if the SDK internals it replaces moved
(pinned by ``azure-eventhub>=5.12,<5.16``; see ``tests/unit/bus/test_eventhubs_patch.py``).
"""

from __future__ import annotations

import inspect
from typing import Any

from azure.eventhub._pyamqp import _decode, _transport
from azure.eventhub._pyamqp.aio import _transport_async

FIELD_COUNTS = {
    0x10: 10,  # open
    0x11: 8,  # begin
    0x12: 14,  # attach
    0x13: 11,  # flow
    0x14: 11,  # transfer
    0x15: 6,  # disposition
    0x16: 3,  # detach
    0x17: 1,  # end
    0x18: 1,  # close
    0x40: 1,  # sasl-mechanisms
    0x41: 3,  # sasl-init
    0x42: 1,  # sasl-challenge
    0x43: 1,  # sasl-response
    0x44: 2,  # sasl-outcome
}

_ORIGINAL = _decode.decode_frame


class SdkInternalsMoved(RuntimeError):
    """The azure-eventhub internals this patch replaces are not where they used to be."""


def padded_decode_frame(data: memoryview) -> tuple[int, list[Any]]:
    frame_type = data[2]
    constructor = data[3]
    if constructor == 0x45:  # list0: no size, no count
        count, buffer = 0, data[4:]
    elif constructor == 0xD0:  # list32
        count = _decode.c_signed_int.unpack(data[8:12])[0]
        buffer = data[12:]
    else:  # list8
        count = data[5]
        buffer = data[6:]
    fields: list[Any] = [None] * max(count, FIELD_COUNTS.get(frame_type, count))
    for index in range(count):
        buffer, fields[index] = _decode._DECODE_BY_CONSTRUCTOR[buffer[0]](buffer[1:])
    if frame_type == 0x14:
        fields.append(buffer)
    return frame_type, fields


def check_internals() -> None:
    """Raise :class:`SdkInternalsMoved` unless the SDK still decodes frames the way we patch."""
    for module in (_transport, _transport_async):
        current = getattr(module, "decode_frame", None)
        if current is None:
            raise SdkInternalsMoved(f"{module.__name__} no longer imports decode_frame")
        if current not in (_ORIGINAL, padded_decode_frame):
            raise SdkInternalsMoved(f"{module.__name__}.decode_frame is not _decode.decode_frame")
    source = inspect.getsource(_ORIGINAL)
    for needle in ("fields.append(buffer)", "[None] * count", "frame_type == 20"):
        if needle not in source:
            raise SdkInternalsMoved(f"_decode.decode_frame changed: {needle!r} not found")


def install() -> None:
    """Patch the sync and async transports of this process (idempotent)."""
    check_internals()
    _transport.decode_frame = padded_decode_frame  # type: ignore[attr-defined]
    _transport_async.decode_frame = padded_decode_frame  # type: ignore[attr-defined]
