"""Publishing frames and their manifest records to a blob store (local backend here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from app.backtest.frames import (
    MANIFEST_NAME,
    BlobFrames,
    call_with_deadline,
    frames_blob_enabled,
    read_manifest,
    write_frame,
)
from app.bootstrap import build_frame_publisher
from app.config import Settings
from app.errors import ConfigError, StorageError
from app.storage.blob import BlobStore


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"close": [10.0, 10.5, 11.0], "equity": [1000.0, 1010.0, 1020.0]},
        index=pd.date_range("2023-01-03", periods=3, tz="UTC", name="timestamp"),
    )


def _write(frame: pd.DataFrame, frames_dir: Path, blob: BlobFrames | None, run_id: str = "r1") -> object:
    return write_frame(
        frame,
        frames_dir=frames_dir,
        symbol="aapl",
        strategy="momentum",
        vendor="yahoo",
        interval="1Day",
        source="api",
        run_id=run_id,
        blob=blob,
    )


def test_publishing_writes_the_local_file_the_blob_copy_and_one_record_object(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    blob = BlobFrames(BlobStore.local(tmp_path / "blob"), "trader-data")
    record = write_frame(
        frame,
        frames_dir=tmp_path / "frames",
        symbol="aapl",
        strategy="momentum",
        vendor="yahoo",
        interval="1Day",
        source="api",
        run_id="r1",
        blob=blob,
    )
    local = tmp_path / "frames" / "AAPL_momentum_yahoo_1day.parquet"
    assert record.path == str(local) and local.exists()
    key = "probabilistic/frames/runs/r1/AAPL_momentum_yahoo_1day.parquet"
    assert record.blob_path == f"blob://trader-data/{key}"
    assert record.blob_error is None
    pd.testing.assert_frame_equal(blob.load(record.blob_path), frame, check_freq=False)
    (line,) = read_manifest(tmp_path / "frames" / MANIFEST_NAME)
    assert line["blob_path"] == record.blob_path and line["blob_error"] is None
    assert line["host"]
    records = blob.store.list("trader-data", "probabilistic/frames/manifest/")
    assert len(records) == 1 and records[0].endswith(".json") and "-r1-" in records[0]
    stored = json.loads(blob.store.get_text("trader-data", records[0]))
    assert stored == line
    assert blob.records() == [line]


def test_records_are_listed_newest_first_and_each_write_keeps_its_own_blob(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    blob = BlobFrames(BlobStore.local(tmp_path / "blob"), "trader-data")
    _write(frame, tmp_path / "host-a", blob, run_id="first")
    _write(frame * 2, tmp_path / "host-b", blob, run_id="second")
    listed = blob.records()
    assert [r["run_id"] for r in listed] == ["second", "first"]
    assert [r["run_id"] for r in blob.records(limit=1)] == ["second"]
    pd.testing.assert_frame_equal(blob.load(listed[1]["blob_path"]), frame, check_freq=False)
    pd.testing.assert_frame_equal(blob.load(listed[0]["blob_path"]), frame * 2, check_freq=False)


def test_a_malformed_record_object_is_skipped_with_a_warning(
    tmp_path: Path, frame: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    blob = BlobFrames(BlobStore.local(tmp_path / "blob"), "trader-data")
    _write(frame, tmp_path / "frames", blob)
    blob.store.put_text("trader-data", "probabilistic/frames/manifest/29991231T000000000000Z-x.json", "{torn")
    blob.store.put_text("trader-data", "probabilistic/frames/manifest/29991231T000000000001Z-y.json", "[1]")
    assert [r["run_id"] for r in blob.records()] == ["r1"]
    assert "malformed frame manifest record" in caplog.text
    assert "without blob_path" in caplog.text


def test_a_blob_failure_keeps_the_local_frame_and_records_the_reason(
    tmp_path: Path, frame: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> BlobStore:
        raise ConfigError("Azure Blob needs STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING")

    record = write_frame(
        frame,
        frames_dir=tmp_path / "frames",
        symbol="AAPL",
        strategy="momentum",
        vendor="yahoo",
        interval="1Day",
        source="cli",
        blob=BlobFrames(broken, "trader-data"),
    )
    assert Path(record.path).exists()
    assert record.blob_path is None
    assert (
        record.blob_error
        == "ConfigError: Azure Blob needs STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING"
    )
    (line,) = read_manifest(tmp_path / "frames" / MANIFEST_NAME)
    assert line["blob_path"] is None and line["blob_error"] == record.blob_error
    assert "frame kept locally but not published" in caplog.text
    assert caplog.records[-1].levelname == "WARNING"


def test_without_a_blob_store_the_record_says_not_published(tmp_path: Path, frame: pd.DataFrame) -> None:
    _write(frame, tmp_path / "frames", None)
    (line,) = read_manifest(tmp_path / "frames" / MANIFEST_NAME)
    assert line["blob_path"] is None and line["blob_error"] is None


def test_call_with_deadline_returns_raises_or_gives_up() -> None:
    assert call_with_deadline(lambda: 42, 5, "answer") == 42
    with pytest.raises(ConfigError, match="boom"):
        call_with_deadline(lambda: (_ for _ in ()).throw(ConfigError("boom")), 5, "failing")
    release = threading.Event()
    with pytest.raises(StorageError, match=r"slow call did not finish within 0\.05 s"):
        call_with_deadline(lambda: release.wait(10), 0.05, "slow call")
    release.set()


def test_publishing_is_on_for_azure_only_unless_set(make_settings: Callable[..., Settings]) -> None:
    assert not frames_blob_enabled(make_settings())
    assert build_frame_publisher(make_settings()) is None
    azure = make_settings(STORAGE_ACCOUNT="aitraderblobstore")
    assert frames_blob_enabled(azure)
    assert not frames_blob_enabled(
        make_settings(STORAGE_ACCOUNT="aitraderblobstore", FRAMES_BLOB_PUBLISH=False)
    )
    forced = make_settings(FRAMES_BLOB_PUBLISH=True, BLOB_CONTAINER_DATA="frames-x", FRAMES_BLOB_TIMEOUT_S=3)
    publisher = build_frame_publisher(forced)
    assert publisher is not None
    assert (publisher.container, publisher.timeout_s) == ("frames-x", 3.0)
    assert publisher.store.kind == "local"


def test_after_a_failed_listing_the_next_calls_fail_fast_until_retry_after() -> None:
    attempts: list[int] = []

    def unreachable() -> BlobStore:
        attempts.append(1)
        raise StorageError("cannot list container 'trader-data': connection refused")

    blob = BlobFrames(unreachable, "trader-data", identity=f"test-{id(attempts)}", retry_after_s=60)
    with pytest.raises(StorageError, match="connection refused"):
        blob.records()
    with pytest.raises(StorageError, match=r"connection refused \(next try within 60 s\)"):
        blob.records()
    assert len(attempts) == 1
    blob.retry_after_s = 0
    with pytest.raises(StorageError, match=r"connection refused$"):
        blob.records()
    assert len(attempts) == 2
