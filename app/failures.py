"""One line for the failures a command cannot fix itself: a folder it cannot write, a database
it cannot use. Every entry point (the ``ai-trader`` CLI, ``run_breakout``, ``dal_smoke``, the
sweep entry) turns these into ``error: <line>`` and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

from app.config import mask_secrets_in

__all__ = ["EDGE_FAILURES", "describe_failure"]

from app.storage.db import DatabaseError

EDGE_FAILURES: tuple[type[BaseException], ...] = (OSError, DatabaseError, UnicodeDecodeError)
"""Exceptions an entry point reports with :func:`describe_failure`."""


def describe_failure(exc: BaseException) -> str:
    """A one-line description of ``exc`` naming what failed and what to do."""
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        return f"cannot use{where}: {reason} (check that the folder exists and is writable)"
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text (byte {exc.start}: {exc.reason})"
    if isinstance(exc, DatabaseError):
        original = getattr(exc, "orig", None)
        text = str(original if original is not None else exc).strip().splitlines()[0]
        hint = ""
        if "no such table" in text or ("does not exist" in text and "relation" in text):
            hint = "; the database is not migrated: run `ai-trader db upgrade`"
        return mask_secrets_in(f"database error: {type(original or exc).__name__}: {text}{hint}")
    return mask_secrets_in(f"{type(exc).__name__}: {exc}")
