"""Blob store: named containers of keyed objects, over fsspec.

The runbook's containers are ``trader-data``, ``trader-models`` and ``eh-checkpoints``, plus
``configs`` (read by the sweep job as ``blob://configs/<file>``). The embedded default is a
local folder per container under ``DATA_DIR/blob``; Azure Blob is reached through adlfs, with
``STORAGE_ACCOUNT`` + ``DefaultAzureCredential`` (Azure CLI credential when ``LOCAL_DEV=1``)
or a connection string (Azurite in tests).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from app.errors import ConfigError, InputError, NotFoundError, StorageError
from app.validation import check_container_name

__all__ = ["BlobStore", "parse_blob_uri"]


def parse_blob_uri(uri: str) -> tuple[str, str]:
    """Split ``blob://<container>/<key>`` into ``(container, key)``."""
    prefix = "blob://"
    if not uri.startswith(prefix):
        raise InputError(f"not a blob URI (expected blob://<container>/<key>): {uri!r}")
    container, _, key = uri[len(prefix) :].partition("/")
    if not container or not key:
        raise InputError(f"blob URI needs a container and a key: {uri!r}")
    check_container_name(container)
    if any(part in ("", ".", "..") for part in key.split("/")) or "\\" in key or "\x00" in key:
        raise InputError(f"blob URI key must be a plain path (no '..', no empty segments): {uri!r}")
    return container, key


AZURE_RETRY_TOTAL = 3
AZURE_RETRY_INITIAL_BACKOFF_S = 1
AZURE_RETRY_INCREMENT_BASE_S = 2
AZURE_CONNECT_TIMEOUT_S = 10


def _bounded_retry_class(base: Any) -> Any:
    """adlfs whose Azure client gives up in seconds, not minutes.

    The storage SDK's default retry (15 s first back-off, growing by powers of 3) keeps one
    call on a dead endpoint busy for close to three minutes, and a cache write or a
    readiness probe with it. Here: 3 retries after 1 + 2, 1 + 4 and 1 + 8 s, and a 10 s
    connect timeout: about 15 s per storage call on a dead endpoint (a write is two calls).
    """
    from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry

    class BoundedRetryBlobFileSystem(base):  # type: ignore[misc]
        def do_connect(self) -> None:
            options: dict[str, Any] = {
                "retry_policy": ExponentialRetry(
                    initial_backoff=AZURE_RETRY_INITIAL_BACKOFF_S,
                    increment_base=AZURE_RETRY_INCREMENT_BASE_S,
                    retry_total=AZURE_RETRY_TOTAL,
                ),
                "connection_timeout": AZURE_CONNECT_TIMEOUT_S,
            }
            if self.connection_string is not None:
                self.service_client = BlobServiceClient.from_connection_string(
                    self.connection_string, **options
                )
            else:
                self.account_url = f"https://{self.account_name}.blob.core.windows.net"
                self.service_client = BlobServiceClient(
                    self.account_url, credential=self.credential, **options
                )

    return BoundedRetryBlobFileSystem


def _clean_key(key: str) -> str:
    normal = posixpath.normpath(key.replace("\\", "/")).lstrip("/")
    if normal in ("", ".") or normal.startswith(".."):
        raise InputError(f"invalid blob key: {key!r}")
    return normal


class BlobStore:
    """Containers of objects on one fsspec filesystem.

    ``root`` is the filesystem path under which container folders live: a local directory,
    or ``""`` for Azure, where containers are top-level.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, kind: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.kind = kind

    @classmethod
    def local(cls, root: str | Path) -> BlobStore:
        path = Path(root).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return cls(LocalFileSystem(auto_mkdir=True), str(path), "local")

    @classmethod
    def azure(
        cls,
        *,
        account_name: str | None = None,
        connection_string: str | None = None,
        use_cli_credential: bool = False,
    ) -> BlobStore:
        try:
            from adlfs import AzureBlobFileSystem
        except ImportError as exc:
            raise ConfigError("Azure Blob needs the azure extra: pip install 'ai-trader[azure]'") from exc
        kwargs: dict[str, Any] = {}
        if connection_string:
            kwargs["connection_string"] = connection_string
        elif account_name:
            from azure.identity.aio import AzureCliCredential, DefaultAzureCredential

            kwargs["account_name"] = account_name
            kwargs["credential"] = AzureCliCredential() if use_cli_credential else DefaultAzureCredential()
        else:
            raise ConfigError("Azure Blob needs STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING")
        fs = _bounded_retry_class(AzureBlobFileSystem)(skip_instance_cache=True, **kwargs)
        return cls(fs, "", "azure")

    # --- paths --------------------------------------------------------------------------
    def path(self, container: str, key: str = "") -> str:
        """Filesystem path of ``key`` in ``container`` (for pandas / pyarrow / fsspec)."""
        parts = [p for p in (self.root, container, _clean_key(key) if key else "") if p]
        return "/".join(parts) if self.kind != "local" else str(Path(*parts))

    def url(self, container: str, key: str) -> str:
        """An fsspec URL readers outside this process can open."""
        if self.kind == "local":
            return self.path(container, key)
        return f"az://{container}/{_clean_key(key)}"

    def ensure_container(self, container: str) -> None:
        path = self.path(container)
        try:
            if not self.fs.exists(path):
                self.fs.mkdir(path)
        except FileExistsError:
            return
        except Exception as exc:
            raise StorageError(f"cannot create container {container!r}: {exc}") from exc

    # --- objects ------------------------------------------------------------------------
    def put_bytes(self, container: str, key: str, data: bytes) -> str:
        self.ensure_container(container)
        path = self.path(container, key)
        try:
            if self.kind == "local":
                tmp = f"{path}.tmp"
                with self.fs.open(tmp, "wb") as fh:
                    fh.write(data)
                Path(tmp).replace(path)
            else:
                self.fs.pipe_file(path, data)
        except Exception as exc:
            raise StorageError(f"cannot write blob {container}/{key}: {exc}") from exc
        return path

    def get_bytes(self, container: str, key: str) -> bytes:
        path = self.path(container, key)
        try:
            data: bytes = self.fs.cat_file(path)
        except FileNotFoundError:
            raise NotFoundError(f"blob not found: {container}/{key}") from None
        except Exception as exc:
            raise StorageError(f"cannot read blob {container}/{key}: {exc}") from exc
        return data

    def exists(self, container: str, key: str) -> bool:
        try:
            return bool(self.fs.exists(self.path(container, key)))
        except Exception as exc:
            raise StorageError(f"cannot stat blob {container}/{key}: {exc}") from exc

    def delete(self, container: str, key: str) -> None:
        try:
            self.fs.rm_file(self.path(container, key))
        except FileNotFoundError:
            return
        except Exception as exc:
            raise StorageError(f"cannot delete blob {container}/{key}: {exc}") from exc

    def list(self, container: str, prefix: str = "") -> list[str]:
        """Keys in ``container`` that start with ``prefix``, sorted."""
        base = self.path(container)
        try:
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        except Exception as exc:
            raise StorageError(f"cannot list container {container!r}: {exc}") from exc
        base_norm = base.replace("\\", "/").rstrip("/") + "/"
        keys = [str(p).replace("\\", "/").removeprefix(base_norm) for p in found]
        return sorted(k for k in keys if k.startswith(prefix) and not k.endswith(".tmp"))

    @contextmanager
    def open(self, container: str, key: str, mode: str = "rb") -> Iterator[IO[Any]]:
        if "w" in mode or "a" in mode:
            self.ensure_container(container)
        try:
            with self.fs.open(self.path(container, key), mode) as fh:
                yield fh
        except FileNotFoundError:
            raise NotFoundError(f"blob not found: {container}/{key}") from None

    def put_text(self, container: str, key: str, text: str) -> str:
        return self.put_bytes(container, key, text.encode("utf-8"))

    def get_text(self, container: str, key: str) -> str:
        return self.get_bytes(container, key).decode("utf-8")

    def ping(self, container: str) -> None:
        """Write, read back and delete a probe object; raise :class:`StorageError` on failure."""
        key = ".ready-probe"
        self.put_bytes(container, key, b"ok")
        if self.get_bytes(container, key) != b"ok":
            raise StorageError(f"blob probe in {container!r} read back different bytes")
        self.delete(container, key)
