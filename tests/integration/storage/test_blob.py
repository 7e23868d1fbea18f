from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from app.bootstrap import build_blob_store
from app.config import Settings
from app.errors import InputError, NotFoundError, StorageError
from app.storage import blob as blob_module
from app.storage.blob import BlobStore, parse_blob_uri
from tests.servers import Server, free_port


@pytest.fixture(params=["local", "azurite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield BlobStore.local(tmp_path / "blob")
        return
    azurite: Server = request.getfixturevalue("azurite")
    yield BlobStore.azure(connection_string=azurite.extra["connection_string"])


def test_bytes_round_trip_list_and_delete(store: BlobStore) -> None:
    store.put_bytes("trader-data", "bars/AAPL/1day.bin", b"\x00\x01payload")
    store.put_text("trader-data", "bars/MSFT/1day.txt", "hello")
    assert store.get_bytes("trader-data", "bars/AAPL/1day.bin") == b"\x00\x01payload"
    assert store.get_text("trader-data", "bars/MSFT/1day.txt") == "hello"
    assert store.exists("trader-data", "bars/AAPL/1day.bin")
    assert store.list("trader-data", "bars/") == ["bars/AAPL/1day.bin", "bars/MSFT/1day.txt"]
    store.delete("trader-data", "bars/AAPL/1day.bin")
    assert not store.exists("trader-data", "bars/AAPL/1day.bin")
    with pytest.raises(NotFoundError, match=r"trader-data/bars/AAPL/1day\.bin"):
        store.get_bytes("trader-data", "bars/AAPL/1day.bin")


def test_overwrite_replaces_content(store: BlobStore) -> None:
    store.put_text("trader-models", "model.json", "v1")
    store.put_text("trader-models", "model.json", "v2")
    assert store.get_text("trader-models", "model.json") == "v2"


def test_parquet_through_open(store: BlobStore) -> None:
    frame = pd.DataFrame({"close": [1.0, 2.5]}, index=pd.date_range("2025-01-02", periods=2, tz="UTC"))
    with store.open("trader-data", "frames/x.parquet", "wb") as fh:
        frame.to_parquet(fh)
    with store.open("trader-data", "frames/x.parquet", "rb") as fh:
        back = pd.read_parquet(io.BytesIO(fh.read()))
    pd.testing.assert_frame_equal(back, frame, check_freq=False)


def test_ping_and_listing_an_empty_container(store: BlobStore) -> None:
    store.ping("eh-checkpoints")
    assert store.list("configs") == []


def test_keys_cannot_escape_the_container(store: BlobStore) -> None:
    with pytest.raises(InputError):
        store.put_text("trader-data", "../escape.txt", "x")


def test_parse_blob_uri() -> None:
    assert parse_blob_uri("blob://configs/momentum_sweep.yaml") == ("configs", "momentum_sweep.yaml")
    with pytest.raises(InputError):
        parse_blob_uri("configs/x.yaml")
    with pytest.raises(InputError):
        parse_blob_uri("blob://configs")


def test_settings_pick_azurite_through_connection_string(
    make_settings: Callable[..., Settings], azurite: Server
) -> None:
    settings = make_settings(AZURE_STORAGE_CONNECTION_STRING=azurite.extra["connection_string"])
    store = build_blob_store(settings)
    assert store.kind == "azure"
    store.put_text("configs", "a.yaml", "x: 1")
    assert store.get_text("configs", "a.yaml") == "x: 1"


def test_a_dead_endpoint_fails_fast_with_our_retry_policy(
    azurite: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the SDK's own policy would keep this call busy for close to three minutes; with the
    # retry budget set to zero (ours, not the SDK's default), one connection attempt decides
    monkeypatch.setattr(blob_module, "AZURE_RETRY_TOTAL", 0)
    dead = azurite.extra["connection_string"].replace(f":{azurite.port}/", f":{free_port()}/")
    store = BlobStore.azure(connection_string=dead)
    started = time.monotonic()
    with pytest.raises(StorageError, match="trader-data"):
        store.put_bytes("trader-data", "probe", b"x")
    assert time.monotonic() - started < 10
    # and the same policy still talks to a live endpoint
    live = BlobStore.azure(connection_string=azurite.extra["connection_string"])
    live.put_bytes("trader-data", "probe", b"x")
    assert live.get_bytes("trader-data", "probe") == b"x"
