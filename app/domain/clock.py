"""The platform's notion of "now": the wall clock, or a replayed clock a test or a replay drives.

Every component that decides something against the time (the scheduler, the router's
staleness check, the replay vendor's "no bar from the future") takes a ``Clock``: a callable
returning an aware UTC ``datetime``. In production it is :func:`wall_clock`.

A replayed day needs the *same* controlled time in every process (scheduler, order consumer,
venue worker), so :class:`FileClock` reads it from a small file the driver rewrites: one
ISO-8601 timestamp with a UTC offset. ``REPLAY_CLOCK_FILE`` selects it, and only together
with the simulated broker: a replayed clock never drives a real account.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.errors import ConfigError

__all__ = ["Clock", "FileClock", "build_clock", "set_clock_file", "wall_clock"]

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


def _parse(text: str, origin: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{origin}: not an ISO-8601 time: {text.strip()[:40]!r}") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigError(f"{origin}: the time {text.strip()!r} has no UTC offset")
    return when.astimezone(UTC)


class FileClock:
    """A clock whose time is the timestamp written in ``path`` (re-read on every call).

    A missing, empty or malformed file is an error, never a fallback to the wall clock: a
    replay that lost its clock must stop rather than decide on the wrong time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> datetime:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"REPLAY_CLOCK_FILE {self.path}: cannot read the replay clock: {exc}") from exc
        return _parse(text, f"REPLAY_CLOCK_FILE {self.path}")

    def __repr__(self) -> str:
        return f"FileClock({str(self.path)!r})"


def set_clock_file(path: Path, when: datetime) -> None:
    """Move the file clock at ``path`` to ``when`` (atomically: readers never see half a line).

    Raises:
        ConfigError: ``when`` is naive.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigError(f"replay clock time {when!r} has no UTC offset")
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(when.astimezone(UTC).isoformat() + "\n", encoding="utf-8")
    scratch.replace(path)


def build_clock(clock_file: Path | None, *, broker: str) -> Clock:
    """The clock the settings select (``REPLAY_CLOCK_FILE``, ``BROKER``): :class:`FileClock`
    over ``clock_file`` when it is set, else the wall clock.

    Raises:
        ConfigError: ``clock_file`` is set while ``broker`` is not ``simulated``, or the file
            cannot be read now.
    """
    if clock_file is None:
        return wall_clock
    if broker != "simulated":
        raise ConfigError(
            f"REPLAY_CLOCK_FILE is set with BROKER={broker}: a replayed clock only drives "
            "the simulated broker; unset REPLAY_CLOCK_FILE to trade on the wall clock"
        )
    clock = FileClock(clock_file)
    clock()  # fail at start-up, not at the first decision
    return clock
