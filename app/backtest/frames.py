"""Probabilistic frames: the merged per-bar parquet files and their JSONL manifest.

A frame holds, per bar, the bars, signals, regime, priors, sizing, position and equity of
one run. Frames live in ``Settings.frames_dir`` (``<ARTIFACTS_DIR>/probabilistic/frames``)
as ``<SYMBOL>_<strategy>_<vendor>_<interval lower-case>.parquet``; each write appends one
line to ``manifest.jsonl`` beside them. The CLI, the API and the sweeps (source ``sweep``)
all register frames through :func:`write_frame`, and the dashboard reads the manifest.

Writers may run concurrently (several processes): the parquet file is written to a
temporary name and renamed into place, and each manifest line is appended under an
exclusive ``fcntl`` lock in a single ``write``, so lines never interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from app.errors import InputError, StorageError

__all__ = [
    "MANIFEST_NAME",
    "FrameRecord",
    "append_manifest",
    "frame_filename",
    "read_manifest",
    "write_frame",
]

MANIFEST_NAME = "manifest.jsonl"
FrameSource = Literal["cli", "sweep", "api"]
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _part(value: str) -> str:
    cleaned = _SAFE.sub("-", value.strip())
    if not cleaned.strip("-."):
        raise InputError(f"cannot build a frame file name from {value!r}")
    return cleaned


def frame_filename(symbol: str, strategy: str, vendor: str, interval: str) -> str:
    """Return ``<SYMBOL>_<strategy>_<vendor>_<interval lower-case>.parquet``."""
    return f"{_part(symbol.upper())}_{_part(strategy)}_{_part(vendor)}_{_part(interval.lower())}.parquet"


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One manifest line."""

    path: str
    symbol: str
    strategy: str
    vendor: str
    interval: str
    rows: int
    columns: list[str]
    start: str | None
    end: str | None
    created_at: str
    source: str
    run_id: str
    extra: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "symbol": self.symbol,
            "strategy": self.strategy,
            "vendor": self.vendor,
            "interval": self.interval,
            "rows": self.rows,
            "columns": self.columns,
            "start": self.start,
            "end": self.end,
            "created_at": self.created_at,
            "source": self.source,
            "run_id": self.run_id,
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


def append_manifest(manifest_path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``manifest_path``, safely across processes.

    Raises:
        StorageError: the file cannot be written.
    """
    line = (json.dumps(dict(record), default=str, separators=(",", ":")) + "\n").encode()
    try:
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(manifest_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageError(f"cannot append to {manifest_path}: {exc}") from exc


def read_manifest(manifest_path: Path) -> list[dict[str, Any]]:
    """Return every well-formed manifest line, oldest first (a missing file gives ``[]``)."""
    if not manifest_path.exists():
        return []
    out: list[dict[str, Any]] = []
    with manifest_path.open("r", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        try:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(item, dict):
                    out.append(item)
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return out


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return str(value)


def write_frame(
    frame: pd.DataFrame,
    *,
    frames_dir: Path,
    symbol: str,
    strategy: str,
    vendor: str,
    interval: str,
    source: FrameSource,
    run_id: str | None = None,
    filename: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> FrameRecord:
    """Write ``frame`` as parquet under ``frames_dir`` and append its manifest line.

    The file name defaults to :func:`frame_filename`; an existing file of that name is
    replaced atomically. ``extra`` adds keys to the manifest line (never overriding the
    standard ones).

    Raises:
        InputError: ``source`` is not cli, sweep or api.
        StorageError: the parquet file or the manifest cannot be written.
    """
    if source not in ("cli", "sweep", "api"):
        raise InputError(f"frame source must be cli, sweep or api, got {source!r}")
    run_id = run_id or uuid.uuid4().hex
    name = filename or frame_filename(symbol, strategy, vendor, interval)
    path = frames_dir / name
    tmp = frames_dir / f".{name}.{uuid.uuid4().hex}.tmp"
    try:
        frames_dir.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write frame {path}: {exc}") from exc
    record = FrameRecord(
        path=str(path),
        symbol=symbol.upper(),
        strategy=strategy,
        vendor=vendor,
        interval=interval,
        rows=len(frame),
        columns=[str(c) for c in frame.columns],
        start=_iso(frame.index[0]) if len(frame) else None,
        end=_iso(frame.index[-1]) if len(frame) else None,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
        run_id=run_id,
        extra=dict(extra or {}),
    )
    append_manifest(frames_dir / MANIFEST_NAME, record.to_json())
    return record
