"""The router as a use case the API, CLI and scheduler call: one context per process.

:meth:`RouterService.run` routes one symbol; :meth:`RouterService.run_pass` routes a
watchlist on one decision bar (the scheduler's intraday refresh): it reads every symbol's
bars first, marks the paper account at each symbol's newest completed close, then runs the
symbols one after another on the bars it read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.domain.intervals import get_interval
from app.errors import AiTraderError, InputError
from app.router.graph import compiled_graph, run_router
from app.router.nodes import ingest_bars, mark_paper_account, newest_close
from app.router.schemas import RouterRunRequest, RouterRunResult
from app.router.state import RouterContext
from app.validation import check_date_range, estimate_bars

__all__ = ["PassRun", "RouterService", "check_router_window"]

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


@dataclass(frozen=True, slots=True)
class PassRun:
    """One symbol of a routing pass: its run's result, or the error that stopped it (no order)."""

    request: RouterRunRequest
    result: RouterRunResult | None = None
    error: AiTraderError | None = None


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
        return self._kept(run_router(request, self.context))

    def run_pass(self, requests: Sequence[RouterRunRequest]) -> Iterator[PassRun]:
        """Route ``requests`` (one per watchlist symbol) on one decision bar, in their order.

        Before any symbol is sized, every request's bars are read at one reading of the clock
        and the paper account is marked at the newest completed close of each target-mode
        symbol whose bars are fresh (the close its run decides on), so each symbol is sized
        against an equity valuing the whole book at the newest closes. The runs then go one
        after another on the bars read; a fill changes the account before the next symbol is
        sized. A real venue's account is never marked (the venue values it). A mark that
        cannot be stored is logged: each run still marks its own symbol before sizing it.

        The outcomes are yielded lazily, in the requests' order: a symbol is routed when the
        caller asks for its outcome. A request whose window is too long or whose bars cannot
        be read yields its error (:class:`PassRun`) and routes nothing; other errors raise.
        """
        now = self.context.clock()
        read: list[dict[str, Any] | AiTraderError] = []
        prices: dict[str, Decimal] = {}
        for request in requests:
            started = time.perf_counter()
            try:
                check_router_window(request, self.max_bars)
                ingested = ingest_bars(request, self.context, now)
            except AiTraderError as exc:
                read.append(exc)
                continue
            ingested["timings_ms"] = {"ingest": round((time.perf_counter() - started) * 1000, 3)}
            read.append(ingested)
            if not request.offline_mode and ingested.get("fallback_reason") is None:
                price = newest_close(ingested["bars"])
                if price.is_finite() and price > 0:
                    prices[request.symbol] = price
        if prices:
            self._mark(prices)
        for request, outcome in zip(requests, read, strict=True):
            if isinstance(outcome, AiTraderError):
                yield PassRun(request=request, error=outcome)
                continue
            try:
                result = run_router(request, self.context, ingested=outcome)
            except AiTraderError as exc:
                yield PassRun(request=request, error=exc)
                continue
            yield PassRun(request=request, result=self._kept(result))

    def _mark(self, prices: dict[str, Decimal]) -> None:
        try:
            marked = mark_paper_account(self.context.broker(), prices)
        except Exception as exc:  # each run marks its own symbol again, or falls back to the book
            log.warning("routing pass: the paper account was not marked: %s", exc)
            return
        if marked:
            log.info("routing pass: paper account marked at the newest closes of %d symbols", len(prices))

    def _kept(self, result: RouterRunResult) -> RouterRunResult:
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
