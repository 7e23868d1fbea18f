"""Read the probabilistic-frame manifest and the parquet frames it points to."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from app.errors import InputError, NotFoundError

__all__ = ["FrameSummary", "load_frame", "read_manifest", "summarize"]

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


def load_frame(path: str | Path, base: Path | None = None) -> pd.DataFrame:
    """Load a frame parquet; relative paths are tried as given, then under ``base``."""
    candidate = Path(path)
    if not candidate.exists() and base is not None and (base / candidate).exists():
        candidate = base / candidate
    if candidate.suffix != ".parquet":
        raise InputError(f"not a parquet frame: {path}")
    if not candidate.exists():
        raise NotFoundError(f"frame not found: {path}")
    return pd.read_parquet(candidate)


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
