"""Merging the local frame manifest with the blob manifest, and loading a listed frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from app.backtest.frames import BlobFrames
from app.errors import InputError, NotFoundError
from app.storage.blob import BlobStore
from app.ui.frames import entry_key, load_entry, load_frame, merge_manifests


def _entry(name: str, created_at: str, run_id: str, **more: Any) -> dict[str, Any]:
    return {"path": f"/host-a/frames/{name}", "created_at": created_at, "run_id": run_id, **more}


def test_a_write_known_locally_and_in_blob_is_listed_once_as_local_plus_blob() -> None:
    local = [_entry("AAPL_m_y_1day.parquet", "2026-11-25T10:00:00+00:00", "r1", blob_path=None)]
    remote = [
        {
            **_entry("AAPL_m_y_1day.parquet", "2026-11-25T10:00:00+00:00", "r1"),
            "path": "/host-b/elsewhere/AAPL_m_y_1day.parquet",
            "blob_path": "blob://trader-data/probabilistic/frames/runs/r1/AAPL_m_y_1day.parquet",
        }
    ]
    (merged,) = merge_manifests(local, remote)
    assert merged["origin"] == "local+blob"
    assert merged["path"] == "/host-a/frames/AAPL_m_y_1day.parquet"
    assert merged["blob_path"] == "blob://trader-data/probabilistic/frames/runs/r1/AAPL_m_y_1day.parquet"


def test_union_is_newest_first_and_keeps_distinct_writes_of_one_file_name() -> None:
    local = [
        _entry("AAPL_m_y_1day.parquet", "2026-11-25T10:00:03+00:00", "r3"),
        _entry("AAPL_m_y_1day.parquet", "2026-11-25T10:00:01+00:00", "r1"),
    ]
    remote = [
        _entry("MSFT_m_y_1day.parquet", "2026-11-25T10:00:04+00:00", "r4", blob_path="blob://c/r4.parquet"),
        _entry("AAPL_m_y_1day.parquet", "2026-11-25T10:00:02+00:00", "r2", blob_path="blob://c/r2.parquet"),
        _entry("AAPL_m_y_1day.parquet", "2026-11-25T10:00:01+00:00", "r1", blob_path="blob://c/r1.parquet"),
    ]
    merged = merge_manifests(local, remote)
    assert [(e["run_id"], e["origin"]) for e in merged] == [
        ("r4", "blob"),
        ("r3", "local"),
        ("r2", "blob"),
        ("r1", "local+blob"),
    ]
    assert [e["run_id"] for e in merge_manifests(local, remote, limit=2)] == ["r4", "r3"]


def test_entries_without_a_readable_time_sort_last() -> None:
    merged = merge_manifests(
        [_entry("a.parquet", "garbage", "r0"), _entry("b.parquet", "2026-11-25T10:00:00", "r1")], []
    )
    assert [e["run_id"] for e in merged] == ["r1", "r0"]


def test_entry_key_ignores_the_directory_of_the_writing_host() -> None:
    one = _entry("X.parquet", "t", "r")
    other = {**one, "path": "/somewhere/else/X.parquet"}
    assert entry_key(one) == entry_key(other) == ("X.parquet", "t", "r")


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"close": [1.0, 2.0], "equity": [100.0, 101.0]},
        index=pd.date_range("2023-01-03", periods=2, tz="UTC", name="timestamp"),
    )


def test_load_entry_prefers_the_local_file_and_falls_back_to_the_blob_copy(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    blob = BlobFrames(BlobStore.local(tmp_path / "blob"), "trader-data")
    blob.store.put_bytes("trader-data", "probabilistic/frames/runs/r1/F.parquet", frame.to_parquet())
    uri = "blob://trader-data/probabilistic/frames/runs/r1/F.parquet"
    local_path = tmp_path / "F.parquet"
    (frame * 2).to_parquet(local_path)
    entry = {"path": str(local_path), "blob_path": uri, "origin": "local+blob"}
    loaded, where = load_entry(entry, blob=blob)
    assert where == str(local_path)
    pd.testing.assert_frame_equal(loaded, frame * 2, check_freq=False)
    local_path.unlink()
    loaded, where = load_entry(entry, blob=blob)
    assert where == uri
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)


def test_a_blob_only_entry_is_never_read_from_a_same_named_local_file(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    blob = BlobFrames(BlobStore.local(tmp_path / "blob"), "trader-data")
    blob.store.put_bytes("trader-data", "probabilistic/frames/runs/r9/F.parquet", frame.to_parquet())
    other_run = tmp_path / "F.parquet"
    (frame * 3).to_parquet(other_run)
    entry = {
        "path": str(other_run),
        "blob_path": "blob://trader-data/probabilistic/frames/runs/r9/F.parquet",
        "origin": "blob",
    }
    loaded, where = load_entry(entry, blob=blob)
    assert where.startswith("blob://")
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)


def test_blob_uris_load_through_the_blob_store_with_specific_errors(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    blob = BlobFrames(BlobStore.local(tmp_path / "blob"), "trader-data")
    blob.store.put_bytes("other", "x/F.parquet", frame.to_parquet())
    pd.testing.assert_frame_equal(load_frame("blob://other/x/F.parquet", blob=blob), frame, check_freq=False)
    with pytest.raises(NotFoundError, match="blob not found"):
        load_frame("blob://other/x/missing.parquet", blob=blob)
    with pytest.raises(InputError, match="not a parquet frame"):
        load_frame("blob://other/x/F.csv", blob=blob)
    with pytest.raises(InputError, match="no blob store"):
        load_frame("blob://other/x/F.parquet")
    with pytest.raises(NotFoundError, match="frame not found"):
        load_entry({"path": str(tmp_path / "gone.parquet"), "origin": "local"}, blob=blob)
