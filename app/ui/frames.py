"""Read the probabilistic-frame manifests and the parquet frames they point to.

Frames are listed from two places: the local ``manifest.jsonl`` of this host, and, when
frames are published to the blob store, the per-record JSON objects in the data container
(written by the API, the CLI or a sweep job on any host). :func:`merge_manifests` joins
them; :func:`load_entry` reads a listed frame from wherever it is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from app.backtest.frames import BlobFrames
from app.errors import InputError, NotFoundError

__all__ = [
    "FrameSummary",
    "entry_key",
    "load_entry",
    "load_frame",
    "merge_manifests",
    "read_manifest",
    "summarize",
]

log = logging.getLogger(__name__)


def read_manifest(path: Path, limit: int = 500) -> list[dict[str, Any]]:
    """Manifest entries, newest first; a torn or malformed line is skipped with a warning."""
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                log.warning("skipping malformed manifest line %d in %s", number, path)
                continue
            if isinstance(entry, dict) and "path" in entry:
                entries.append(entry)
    return entries[::-1][:limit]


_EPOCH = datetime.min.replace(tzinfo=UTC)


def entry_key(entry: dict[str, Any]) -> tuple[str, str, str]:
    """Identity of one frame write: file name, written time and run id.

    The local line and the blob record of one write carry the same three values; the
    directory is left out because the writer's local path means nothing on another host.
    """
    name = Path(str(entry.get("path") or entry.get("blob_path") or "")).name
    return name, str(entry.get("created_at") or ""), str(entry.get("run_id") or "")


def _written(entry: dict[str, Any]) -> datetime:
    try:
        when = datetime.fromisoformat(str(entry.get("created_at")))
    except ValueError:
        return _EPOCH
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def merge_manifests(
    local: Iterable[dict[str, Any]], remote: Iterable[dict[str, Any]], limit: int = 500
) -> list[dict[str, Any]]:
    """Union of local manifest lines and blob manifest records, newest first.

    A write present in both (same :func:`entry_key`) appears once. Each entry gets
    ``origin``: ``local`` (only this host's manifest), ``blob`` (only the blob store), or
    ``local+blob``; a ``blob_path`` known from either side is kept.
    """
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in local:
        merged.setdefault(entry_key(entry), {**entry, "origin": "local"})
    for entry in remote:
        key = entry_key(entry)
        known = merged.get(key)
        if known is None:
            merged[key] = {**entry, "origin": "blob"}
        elif known["origin"] != "blob":
            known["origin"] = "local+blob"
            if not known.get("blob_path"):
                known["blob_path"] = entry.get("blob_path")
    ordered = sorted(merged.values(), key=_written, reverse=True)
    return ordered[: max(0, limit)]


def load_frame(path: str | Path, base: Path | None = None, blob: BlobFrames | None = None) -> pd.DataFrame:
    """Load a frame parquet from a local path or a ``blob://<container>/<key>`` URI.

    Relative local paths are tried as given, then under ``base``.

    Raises:
        InputError: not a parquet path, or a blob URI without a blob store.
        NotFoundError: the file or blob does not exist.
        StorageError: the blob store cannot be read.
    """
    if str(path).startswith("blob://"):
        if blob is None:
            raise InputError(f"cannot read {path}: no blob store is configured")
        return blob.load(str(path))
    candidate = Path(path)
    if not candidate.exists() and base is not None and (base / candidate).exists():
        candidate = base / candidate
    if candidate.suffix != ".parquet":
        raise InputError(f"not a parquet frame: {path}")
    if not candidate.exists():
        raise NotFoundError(f"frame not found: {path}")
    return pd.read_parquet(candidate)


def load_entry(
    entry: dict[str, Any], base: Path | None = None, blob: BlobFrames | None = None
) -> tuple[pd.DataFrame, str]:
    """Load a listed frame and say where from (the local path or the blob URI).

    An entry of this host's manifest is read from its local file while that exists, else
    from its blob copy. An entry known only from the blob store is always read from the
    blob: the same local path on this host may hold another run's frame.

    Raises:
        NotFoundError: neither the local file nor a blob copy is available.
    """
    local = str(entry.get("path") or "")
    uri = entry.get("blob_path")
    if entry.get("origin", "local") != "blob" and local:
        candidate = Path(local)
        if candidate.exists() or (base is not None and (base / candidate).exists()) or not uri:
            return load_frame(local, base=base), local
    if isinstance(uri, str) and uri:
        return load_frame(uri, blob=blob), uri
    raise NotFoundError(f"frame not found: {local or entry}")


@dataclass(frozen=True, slots=True)
class FrameSummary:
    rows: int
    columns: list[str]
    start: str | None
    end: str | None


def summarize(frame: pd.DataFrame) -> FrameSummary:
    index = frame.index
    has_time = isinstance(index, pd.DatetimeIndex) and len(index) > 0
    return FrameSummary(
        rows=len(frame),
        columns=[str(c) for c in frame.columns],
        start=index.min().isoformat() if has_time else None,
        end=index.max().isoformat() if has_time else None,
    )
