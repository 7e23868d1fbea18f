"""Sweep progress: a rich bar with ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO, Any, Protocol

__all__ = ["LogProgress", "Progress", "RichProgress", "make_progress"]

log = logging.getLogger("app.backtest.sweeps")


class Progress(Protocol):
    def __enter__(self) -> Progress: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def advance(self, done: int, failed: int = 0) -> None:
        """Record ``done`` more finished parameter sets, ``failed`` of them failed."""
        ...


class LogProgress:
    """Logs ``done/total``, rate and ETA at most every ``every_s`` seconds, and once at the end."""

    def __init__(self, total: int, label: str, every_s: float = 5.0) -> None:
        self.total = total
        self.label = label
        self.every_s = every_s
        self.done = 0
        self.failed = 0
        self._started = time.perf_counter()
        self._last = self._started
        self._logged = -1

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._logged != self.done:
            self._emit()

    def advance(self, done: int, failed: int = 0) -> None:
        self.done += done
        self.failed += failed
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self._last = now
            self._emit()

    def _emit(self) -> None:
        self._logged = self.done
        elapsed = time.perf_counter() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        log.info(
            "%s: %d/%d parameter sets (%d failed), %.0f/s, eta %.1f s",
            self.label,
            self.done,
            self.total,
            self.failed,
            rate,
            eta,
            extra={"done": self.done, "total": self.total, "failed": self.failed},
        )


class RichProgress:
    """A rich progress bar with rate and ETA, drawn on ``stream`` (a terminal)."""

    def __init__(self, total: int, label: str, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as _RichProgress

        self._progress = _RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._task = self._progress.add_task(label, total=total, failed=0)
        self._failed = 0

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def advance(self, done: int, failed: int = 0) -> None:
        self._failed += failed
        self._progress.update(self._task, advance=done, failed=self._failed)


def make_progress(total: int, label: str, stream: IO[str] | None = None) -> Progress:
    """A rich bar when ``stream`` (default stderr) is a terminal, else log lines."""
    out = sys.stderr if stream is None else stream
    if out.isatty():
        return RichProgress(total, label, out)
    return LogProgress(total, label)
