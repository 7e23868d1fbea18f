"""The router as a use case the API, CLI and scheduler call: one context per process, one run per call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from app.domain.intervals import get_interval
from app.errors import AiTraderError, InputError
from app.router.graph import compiled_graph, run_router
from app.router.schemas import RouterRunRequest, RouterRunResult
from app.router.state import RouterContext
from app.validation import check_date_range, estimate_bars

__all__ = ["RouterService", "check_router_window"]

log = logging.getLogger(__name__)

RunRecorder = Callable[[RouterRunResult], object]
"""Keeps a run that produced an order intent (see :mod:`app.router.run_records`)."""


def check_router_window(request: RouterRunRequest, max_bars: int) -> int:
    """Refuse a window whose bar count (an upper estimate) is above ``max_bars``; return the estimate."""
    interval = get_interval(request.interval)
    check_date_range(request.start, request.window_end)
    bars = estimate_bars(interval.minutes, request.start, request.window_end)
    if bars > max_bars:
        days = max(1, max_bars // estimate_bars(interval.minutes, request.start, request.start))
        raise InputError(
            f"start: a {request.interval} window from {request.start.date()} holds up to {bars:,} bars; "
            f"the limit is {max_bars:,} bars (ROUTER_MAX_BARS), about {days:,} trading days of "
            f"{request.interval} bars"
        )
    return bars


class RouterService:
    """Runs the router graph with the process's clients.

    The composition root (``app.bootstrap.Container.router``) builds one per process with its
    :class:`RouterContext`; the container, not the service, closes the bus and the broker.
    """

    def __init__(self, context: RouterContext, *, max_bars: int, record: RunRecorder | None = None) -> None:
        self.context = context
        self.max_bars = max_bars
        self._record = record
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="router-run-record")
        compiled_graph()  # compile at start-up, not on the first request

    def run(self, request: RouterRunRequest) -> RouterRunResult:
        """Run the graph once for ``request``.

        Raises:
            InputError: the window holds more bars than ``ROUTER_MAX_BARS`` (checked before
                any bar is fetched or built).
        """
        check_router_window(request, self.max_bars)
        result = run_router(request, self.context)
        if result.intent is not None and self._record is not None:  # off the request's path
            self._recorder.submit(self._keep, result)
        return result

    def _keep(self, result: RouterRunResult) -> None:
        assert self._record is not None
        try:
            self._record(result)
        except AiTraderError as exc:
            log.warning("router run %s not recorded: %s", result.run_id, exc, extra={"run_id": result.run_id})

    def close(self) -> None:
        """Finish recording the runs already handed over."""
        self._recorder.shutdown(wait=True)
