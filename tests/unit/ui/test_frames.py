from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from app.errors import InputError, NotFoundError
from app.ui.frames import load_frame, read_manifest, summarize


def test_manifest_is_read_newest_first_skipping_torn_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = tmp_path / "manifest.jsonl"
    lines = [
        json.dumps({"path": "a.parquet", "symbol": "AAPL"}),
        '{"path": "torn',
        "",
        json.dumps({"no_path": True}),
        json.dumps({"path": "b.parquet", "symbol": "MSFT"}),
    ]
    manifest.write_text("\n".join(lines) + "\n")
    entries = read_manifest(manifest)
    assert [e["symbol"] for e in entries] == ["MSFT", "AAPL"]
    assert "malformed manifest line 2" in caplog.text


def test_missing_manifest_is_empty(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "none.jsonl") == []


def test_load_frame_resolves_relative_to_the_manifest(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"close": [1.0, 2.0, 3.0], "equity": [100.0, 101.0, 99.5]},
        index=pd.date_range("2023-01-03", periods=3, tz="UTC", name="timestamp"),
    )
    frame.to_parquet(tmp_path / "AAPL_momentum_synthetic_1day.parquet")
    loaded = load_frame("AAPL_momentum_synthetic_1day.parquet", base=tmp_path)
    summary = summarize(loaded)
    assert summary.rows == 3
    assert summary.columns == ["close", "equity"]
    assert summary.start == "2023-01-03T00:00:00+00:00"
    assert summary.end == "2023-01-05T00:00:00+00:00"


def test_load_frame_errors_are_specific(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a parquet frame"):
        load_frame(tmp_path / "x.csv")
    with pytest.raises(NotFoundError, match="frame not found"):
        load_frame(tmp_path / "missing.parquet")
