"""Probabilistic frames: the merged per-bar parquet files and their JSONL manifest.

A frame holds, per bar, the bars, signals, regime, priors, sizing, position and equity of
one run. Frames live in ``Settings.frames_dir`` (``<ARTIFACTS_DIR>/probabilistic/frames``)
as ``<SYMBOL>_<strategy>_<vendor>_<interval lower-case>.parquet``; each write appends one
line to ``manifest.jsonl`` beside them. The CLI, the API and the sweeps (source ``sweep``)
all register frames through :func:`write_frame`, and the dashboard reads the manifest.

Writers may run concurrently (several processes): the parquet file is written to a
temporary name and renamed into place, and each manifest line is appended under an
exclusive ``fcntl`` lock in a single ``write``, so lines never interleave.

The API, the dashboard and the sweep job run on separate hosts, so a local file is not
enough. With a :class:`BlobFrames` (``app.bootstrap.build_frame_publisher``), each frame is also
published to the data container: the parquet under
``probabilistic/frames/runs/<run id>/<file name>`` (one object per run, never overwritten)
and its manifest record as one small JSON object under
``probabilistic/frames/manifest/<UTC timestamp>-<run id>-<nonce>.json``. One object per
record means concurrent writers on different hosts never contend for a shared blob. A blob
failure never loses the local frame: it is logged as a warning and recorded in the local
manifest line as ``blob_path: null`` with ``blob_error``.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pandas as pd

from app.errors import InputError, StorageError

if TYPE_CHECKING:
    from app.config import Settings
    from app.storage.blob import BlobStore

__all__ = [
    "BLOB_MANIFEST_PREFIX",
    "FRAMES_BLOB_PREFIX",
    "MANIFEST_NAME",
    "BlobFrames",
    "FrameRecord",
    "append_manifest",
    "call_with_deadline",
    "frame_filename",
    "frames_blob_enabled",
    "read_manifest",
    "write_frame",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
FRAMES_BLOB_PREFIX = "probabilistic/frames/"
BLOB_MANIFEST_PREFIX = f"{FRAMES_BLOB_PREFIX}manifest/"
_T = TypeVar("_T")
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
    host: str = ""
    blob_path: str | None = None
    """``blob://<container>/<key>`` of the published copy; ``None`` when not published."""
    blob_error: str | None = None
    """Why publishing to the blob store failed (``None`` when it succeeded or was not tried)."""

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
            "host": self.host,
            "blob_path": self.blob_path,
            "blob_error": self.blob_error,
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


def call_with_deadline(fn: Callable[[], _T], timeout_s: float, what: str) -> _T:
    """Run ``fn`` in a daemon thread and return its result, waiting at most ``timeout_s``.

    The Azure SDK retries an unreachable endpoint for minutes; this bounds how long a
    backtest or a dashboard page waits for the blob store. On timeout the thread is left to
    finish on its own (it is a daemon, so it never holds the process open).

    Raises:
        StorageError: ``fn`` did not finish in time.
        Exception: whatever ``fn`` raised.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = fn()
        except Exception as exc:  # handed to the caller below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"blob-{what}", daemon=True).start()
    if not done.wait(timeout_s):
        raise StorageError(f"{what} did not finish within {timeout_s:g} s (blob store unreachable?)")
    if "error" in outcome:
        raise outcome["error"]
    value: _T = outcome["value"]
    return value


_RECORD_CACHE: dict[str, dict[str, Any]] = {}
_RECORD_CACHE_MAX = 10_000
_LISTING_FAILURES: dict[str, tuple[float, str]] = {}


class BlobFrames:
    """Frames and manifest records in one blob container (normally ``BLOB_CONTAINER_DATA``).

    The :class:`~app.storage.blob.BlobStore` is built on first use, so a bad blob
    configuration surfaces as a recorded publishing error rather than a failed backtest.
    Every blob call is bounded by ``timeout_s`` (see :func:`call_with_deadline`).
    """

    def __init__(
        self,
        store: BlobStore | Callable[[], BlobStore],
        container: str,
        *,
        timeout_s: float = 20.0,
        prefix: str = FRAMES_BLOB_PREFIX,
        identity: str | None = None,
        retry_after_s: float = 30.0,
    ) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.container = container
        self.timeout_s = timeout_s
        self.prefix = prefix.rstrip("/") + "/"
        self.identity = f"{identity or id(self)}:{container}"
        self.retry_after_s = retry_after_s

    @property
    def store(self) -> BlobStore:
        with self._lock:
            if callable(self._store):
                self._store = self._store()
            return self._store

    @property
    def manifest_prefix(self) -> str:
        return f"{self.prefix}manifest/"

    def uri(self, key: str) -> str:
        return f"blob://{self.container}/{key}"

    def frame_key(self, run_id: str, name: str) -> str:
        return f"{self.prefix}runs/{run_id}/{name}"

    # --- writing ------------------------------------------------------------------------
    def publish(self, local_path: Path, record: FrameRecord) -> FrameRecord:
        """Upload the frame at ``local_path`` and its manifest record; never raises.

        Returns ``record`` with ``blob_path`` set, or with ``blob_error`` (and a logged
        warning) when the blob store could not take it within the deadline.
        """
        key = self.frame_key(record.run_id, Path(record.path).name)
        published = replace(record, blob_path=self.uri(key), blob_error=None)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        record_key = (
            f"{self.manifest_prefix}{stamp}-{_SAFE.sub('-', record.run_id)}-{uuid.uuid4().hex[:8]}.json"
        )
        body = json.dumps(published.to_json(), default=str, separators=(",", ":")).encode()
        abandoned = threading.Event()

        def upload() -> None:
            store = self.store
            store.put_bytes(self.container, key, local_path.read_bytes())
            if abandoned.is_set():  # the caller gave up: do not list a frame it reported as failed
                store.delete(self.container, key)
                return
            try:
                store.put_bytes(self.container, record_key, body)
            except Exception:
                store.delete(self.container, key)
                raise

        try:
            call_with_deadline(upload, self.timeout_s, "frame publish")
        except Exception as exc:
            abandoned.set()
            reason = f"{type(exc).__name__}: {exc}"
            log.warning(
                "frame kept locally but not published to blob://%s/%s: %s",
                self.container,
                key,
                reason,
                extra={"frame": record.path, "run_id": record.run_id},
            )
            return replace(record, blob_path=None, blob_error=reason)
        return published

    # --- reading ------------------------------------------------------------------------
    def records(self, limit: int = 500) -> list[dict[str, Any]]:
        """The newest ``limit`` manifest records in the container, newest first.

        Records are immutable once written, so each is fetched once per process. A record
        that is not a JSON object with ``blob_path`` is skipped with a warning. After a
        failed listing, calls fail at once for ``retry_after_s`` (a page that lists frames
        on every interaction would otherwise wait ``timeout_s`` each time).

        Raises:
            StorageError: the container cannot be listed or read within the deadline.
        """
        failed = _LISTING_FAILURES.get(self.identity)
        if failed is not None and time.monotonic() - failed[0] < self.retry_after_s:
            raise StorageError(f"{failed[1]} (next try within {self.retry_after_s:g} s)")
        try:
            records = call_with_deadline(
                lambda: self._records(limit), self.timeout_s, "frame manifest listing"
            )
        except Exception as exc:
            _LISTING_FAILURES[self.identity] = (time.monotonic(), str(exc))
            raise
        _LISTING_FAILURES.pop(self.identity, None)
        return records

    def _records(self, limit: int) -> list[dict[str, Any]]:
        store = self.store
        keys = [k for k in store.list(self.container, self.manifest_prefix) if k.endswith(".json")]
        newest = keys[::-1][: max(0, limit)]
        cache_id = f"{store.kind}:{store.root}:{self.container}/"
        missing = [k for k in newest if cache_id + k not in _RECORD_CACHE]
        if missing:
            paths = {store.path(self.container, k): k for k in missing}
            try:
                fetched = store.fs.cat(list(paths), on_error="return")
            except Exception as exc:
                raise StorageError(
                    f"cannot read frame manifest records in {self.container!r}: {exc}"
                ) from exc
            if len(_RECORD_CACHE) + len(missing) > _RECORD_CACHE_MAX:
                _RECORD_CACHE.clear()
            for path, data in fetched.items():
                key = paths.get(str(path)) or paths.get(str(path).lstrip("/"))
                if key is None or isinstance(data, BaseException):
                    continue
                try:
                    item = json.loads(data)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    log.warning("skipping malformed frame manifest record %s/%s", self.container, key)
                    continue
                if not isinstance(item, dict) or not isinstance(item.get("blob_path"), str):
                    log.warning(
                        "skipping frame manifest record without blob_path: %s/%s", self.container, key
                    )
                    continue
                _RECORD_CACHE[cache_id + key] = item
        return [dict(_RECORD_CACHE[cache_id + k]) for k in newest if cache_id + k in _RECORD_CACHE]

    def load(self, uri: str) -> pd.DataFrame:
        """Read the parquet frame at ``blob://<container>/<key>``.

        Raises:
            InputError: not a blob URI, or not a ``.parquet`` key.
            NotFoundError: no such blob.
            StorageError: the blob store is unreachable or the bytes are not parquet.
        """
        from app.storage.blob import parse_blob_uri

        container, key = parse_blob_uri(uri)
        if not key.endswith(".parquet"):
            raise InputError(f"not a parquet frame: {uri}")
        data = call_with_deadline(
            lambda: self.store.get_bytes(container, key), self.timeout_s, "frame download"
        )
        try:
            return pd.read_parquet(io.BytesIO(data))
        except (OSError, ValueError) as exc:
            raise StorageError(f"{uri} is not a readable parquet frame: {exc}") from exc


def frames_blob_enabled(settings: Settings) -> bool:
    """Whether frames are published to (and listed from) the blob store.

    ``FRAMES_BLOB_PUBLISH`` decides when set; otherwise only an Azure blob backend counts:
    the default local backend is a folder on the writer's own disk, as private to that
    host as the frames directory itself, so a copy there would only double the bytes.
    """
    if settings.FRAMES_BLOB_PUBLISH is not None:
        return settings.FRAMES_BLOB_PUBLISH
    return settings.blob_backend.kind == "azure"


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
    blob: BlobFrames | None = None,
    register: bool = True,
) -> FrameRecord:
    """Write ``frame`` as parquet under ``frames_dir`` and append its manifest line.

    With ``register=False`` the manifest line is left to the caller (``append_manifest``
    with ``record.to_json()``), who appends it once everything else of the run is in place.

    The file name defaults to :func:`frame_filename`; an existing file of that name is
    replaced atomically. ``extra`` adds keys to the manifest line (never overriding the
    standard ones). With ``blob``, the frame and its record are also published there
    (:meth:`BlobFrames.publish`); the outcome is in ``blob_path`` / ``blob_error`` of the
    returned record and of the local manifest line.

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
        host=socket.gethostname(),
    )
    if blob is not None:
        record = blob.publish(path, record)
    if register:
        append_manifest(frames_dir / MANIFEST_NAME, record.to_json())
    return record
