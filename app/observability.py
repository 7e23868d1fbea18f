"""Structured logging: one JSON object per line, carrying the component and the request id."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from app.config import mask_secrets_in

__all__ = ["COMPONENT_ENV", "JsonFormatter", "configure_logging", "request_id_var", "resolve_component"]

COMPONENT_ENV = "AI_TRADER_COMPONENT"
"""Environment variable naming the process on every log line (``ai-trader up`` sets it per child)."""

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_DROPPED = frozenset({"color_message"})  # uvicorn's copy of the message with terminal colour codes


def resolve_component(default: str | None = None) -> str:
    """The process's component name: ``AI_TRADER_COMPONENT`` if set, else ``default``, else ``cli``."""
    return os.environ.get(COMPONENT_ENV, "").strip() or default or "cli"


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


class JsonFormatter(logging.Formatter):
    """Render a record as a JSON line; ``extra=`` fields become top-level keys.

    ``component`` (when given) is written on every line, after ``msg``.
    """

    def __init__(self, component: str | None = None) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.component is not None:
            payload["component"] = self.component
        request_id = request_id_var.get()
        if request_id is not None:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in _DROPPED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return mask_secrets_in(json.dumps(payload, default=_json_default))


class MaskingFormatter(logging.Formatter):
    """Plain-text lines with every URL credential masked (see :func:`app.config.mask_secrets_in`)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets_in(super().format(record))


def configure_logging(level: str = "INFO", *, json_lines: bool = True, component: str | None = None) -> None:
    """Send ai-trader's logs to stderr, as JSON lines (default) or plain text.

    Each JSON line carries ``component``: ``AI_TRADER_COMPONENT`` when set (the supervisor's
    name for this process), else ``component``, else ``cli``.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(resolve_component(component))
        if json_lines
        else MaskingFormatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_ai_trader", False):
            root.removeHandler(existing)
    handler._ai_trader = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "azure", "numba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
