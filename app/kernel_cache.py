"""Key the Numba cache by the source of every compiled kernel, so stale machine code never runs.

Numba keeps a cached kernel while *its own* source file is unchanged. A kernel that calls a
kernel from another file has the callee compiled into it, yet editing the callee's file does not
invalidate the caller's cache entry: the caller silently keeps running the old callee. (This is
a documented Numba limitation; it hit us when a strategy's rule changed and the sweep kept the
old rule from its cache.)

:func:`key_numba_cache` runs when the ``app`` package is imported, before any kernel module is:
it hashes the contents of every module of the package that uses Numba and points Numba's cache
at a sub-folder named by that hash. Any change to any kernel's source therefore starts from an
empty cache (compiled once, then cached again), and a shipped cache is used exactly when it was
built from the same sources. ``NUMBA_CACHE_DIR`` stays the root: with it set the cache lives in
``$NUMBA_CACHE_DIR/src-<hash>``; without it, in ``app/__pycache__/numba-src-<hash>`` (beside
the bytecode, which is where Numba would have written otherwise).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

__all__ = ["SOURCE_ROOT", "kernel_sources", "key_numba_cache", "source_fingerprint"]

SOURCE_ROOT = Path(__file__).resolve().parent
_MARKER = b"numba"
_KEYED = "_AI_TRADER_NUMBA_KEYED"
"""The keyed folder, kept in the environment so a child process given the same folder keeps it."""


def kernel_sources(root: Path = SOURCE_ROOT) -> list[Path]:
    """Every module below ``root`` that mentions Numba, in a stable order."""
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts and _MARKER in p.read_bytes())


def source_fingerprint(root: Path = SOURCE_ROOT) -> str:
    """A short hash of the paths (relative to ``root``) and contents of :func:`kernel_sources`."""
    digest = hashlib.sha256()
    for path in kernel_sources(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def key_numba_cache(source_root: Path = SOURCE_ROOT) -> Path | None:
    """Point Numba's cache at the folder for the current kernel sources; return it.

    Returns ``None`` (and changes nothing) when Numba's JIT is disabled. A process started by one
    that already keyed the folder (same sources) inherits it unchanged.
    """
    if os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        return None
    root = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    if root and os.environ.get(_KEYED) == root:
        folder = Path(root)
    else:
        name = f"src-{source_fingerprint(source_root)}"
        folder = Path(root) / name if root else source_root / "__pycache__" / f"numba-{name}"
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        os.environ[_KEYED] = str(folder)
    numba = sys.modules.get("numba")
    if numba is not None:  # imported before us: its config already read the environment
        numba.config.CACHE_DIR = str(folder)
    return folder
