"""``KEY=VALUE`` command-line arguments that override the environment.

The runbook starts workers as ``python scripts/<worker>.py EH_FQDN=... EH_HUB_ORDERS=...``.
Each worker names the keys it accepts; :func:`parse_kv_args` checks the arguments against
them, :func:`settings_from_kv` builds :class:`~app.config.Settings` with the values layered
over the environment, and :func:`idle_exit_seconds` reads the ``IDLE_EXIT_SECONDS`` key
(argument first, then environment) that lets a worker exit once it has caught up.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence

from app.config import Settings, load_settings
from app.errors import InputError

__all__ = ["IDLE_EXIT_KEY", "idle_exit_seconds", "parse_kv_args", "settings_from_kv"]

IDLE_EXIT_KEY = "IDLE_EXIT_SECONDS"
"""Exit 0 after this many seconds without a new event (batch runs and tests)."""

_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


def parse_kv_args(argv: Sequence[str], accepted: Iterable[str]) -> dict[str, str]:
    """Parse ``KEY=VALUE`` arguments, allowing only the ``accepted`` keys.

    Values may be empty (``EH_FQDN=`` clears a key set in the environment) and may contain
    ``=``. A key given twice keeps its last value.

    Raises:
        InputError: an argument is not ``KEY=VALUE`` or names a key outside ``accepted``;
            the message lists the accepted keys.
    """
    allowed = sorted(set(accepted))
    listing = "accepted keys: " + (", ".join(allowed) if allowed else "none")
    values: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not _KEY.match(key):
            raise InputError(f"malformed argument {arg!r}: expected KEY=VALUE; {listing}")
        if key not in allowed:
            raise InputError(f"unknown key {key!r}; {listing}")
        values[key] = value
    return values


def settings_from_kv(values: Mapping[str, str]) -> Settings:
    """Build settings from the environment with the given values as overrides.

    Keys that are not settings (such as ``IDLE_EXIT_SECONDS``) are skipped here.

    Raises:
        ConfigError: a value is malformed; the message names the key.
    """
    fields = Settings.model_fields
    overrides = {key: value for key, value in values.items() if key in fields}
    return load_settings(**overrides)


def idle_exit_seconds(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> float | None:
    """Return ``IDLE_EXIT_SECONDS`` from the arguments, else the environment; ``None`` when unset.

    Raises:
        InputError: the value is not a finite number of seconds greater than zero.
    """
    env = os.environ if environ is None else environ
    raw = values.get(IDLE_EXIT_KEY, env.get(IDLE_EXIT_KEY))
    if raw is None or raw.strip() == "":
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise InputError(f"{IDLE_EXIT_KEY} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"{IDLE_EXIT_KEY} must be greater than 0, got {raw!r}")
    return seconds
