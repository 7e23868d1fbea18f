"""The azure-eventhub decoder padding the proton test server needs (fails loudly if the SDK moves)."""

from __future__ import annotations

from azure.eventhub._pyamqp import _decode

from tests.eventhubs_server import client_patch

# transfer (0x14) as proton sends it: only handle=0 and delivery-id=1, trailing nulls omitted,
# followed by the message payload.
_SHORT_TRANSFER = memoryview(b"\x00\x53\x14\xc0\x05\x02\x52\x00\x52\x01hello")
_CLOSE_LIST0 = memoryview(b"\x00\x53\x18\x45")


def test_sdk_internals_the_patch_replaces_are_still_there() -> None:
    client_patch.check_internals()


def test_unpadded_sdk_decoder_misplaces_the_payload_of_a_short_transfer() -> None:
    frame_type, fields = _decode.decode_frame(_SHORT_TRANSFER)
    assert frame_type == 0x14
    assert len(fields) == 3  # the SDK then reads the payload from index 11 and fails


def test_padded_decoder_puts_the_payload_after_all_transfer_fields() -> None:
    frame_type, fields = client_patch.padded_decode_frame(_SHORT_TRANSFER)
    assert frame_type == 0x14
    assert fields[:2] == [0, 1]
    assert fields[2:11] == [None] * 9
    assert bytes(fields[11]) == b"hello"


def test_padded_decoder_reads_list0_performatives() -> None:
    assert client_patch.padded_decode_frame(_CLOSE_LIST0) == (0x18, [None])


def test_install_patches_sync_and_async_transports() -> None:
    from azure.eventhub._pyamqp import _transport
    from azure.eventhub._pyamqp.aio import _transport_async

    client_patch.install()
    assert _transport.decode_frame is client_patch.padded_decode_frame
    assert _transport_async.decode_frame is client_patch.padded_decode_frame
