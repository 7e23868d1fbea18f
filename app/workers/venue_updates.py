"""Venue updates: the order lifecycle as the venue reports it, published to ``exec.orders``.

Two loops in one worker process:

* **The stream** (venues that have one: Alpaca's ``trade_updates``). Every new, partial
  fill, fill, cancel, expiry, rejection or replacement becomes an ``order.update``
  :class:`~app.domain.orders.OrderEvent` on ``exec.orders``, keyed by symbol as the router
  keys its intents, so the order consumer moves ``trading.orders`` / ``trading.fills`` (and
  the book) to the venue's state. After every connect the worker first runs a **catch-up**:
  the venue lists the orders updated since the last update seen (less an overlap), every
  open order and every order still believed open, with their executions; their current
  state is published too, so nothing that happened while disconnected is lost. Frames that
  arrive during the catch-up wait in the connection's buffer.

  Reconnects back off exponentially with jitter (tenacity) between
  ``VENUE_RECONNECT_INITIAL_S`` and ``VENUE_RECONNECT_MAX_S``; after
  ``VENUE_RECONNECT_MAX_ATTEMPTS`` failures in a row the worker stops with exit code 1 (its
  supervisor restarts it and alerts) rather than run blind. A connection that delivers no
  frame for ``VENUE_HEARTBEAT_S`` is pinged; when neither a frame nor a pong arrived for
  ``VENUE_MAX_FRAME_AGE_S`` the stream is declared silent: reconnect and catch up.

* **The time-in-force sweep** (every ``VENUE_SWEEP_INTERVAL_S``, every venue). Orders still
  open in ``trading.orders`` after their time in force ran out
  (:func:`~app.workers.time_in_force.expires_at`, on the XNYS calendar with its early
  closes) get an ``expired`` update, so they stop counting against
  ``KILL_SWITCH_MAX_OPEN_ORDERS``. With a streaming venue only orders that never reached it
  (no ``broker_order_id``: intents published with ``execute_orders=false``) are swept; the
  venue reports its own expiries. The simulated broker has no stream and no order book, so
  every open order is swept.

Event ids are deterministic: ``sha256(order.update | venue order id | status | fill ids)``
(a fill id carries the order's cumulative filled quantity), so a redelivered frame, or a
catch-up that finds what the stream already said, carries the same id; the order consumer's
upserts make a repeat a no-op either way.

The worker writes a status record (:mod:`app.workers.consumer_status`, name
``venue-updates``, group = the venue) every heartbeat; its ``lag_seconds`` is the age of the
last frame or answered ping, which :func:`register_readiness` turns into a ``/health/ready``
check.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from app.bootstrap import Container
from app.bus.envelope import Envelope
from app.bus.ports import Bus
from app.config import Settings
from app.domain.orders import ORDER_EVENT_UPDATE, OrderEvent, OrderStatus, status_rank
from app.errors import AiTraderError, BusError, ConfigError, InputError, OrderRejected, RetryableError
from app.execution.venue import StreamConnection, StreamLost, StreamSilent, VenueFeed, VenueUpdate
from app.workers.consumer_status import ConsumerStatus, read_status, write_status
from app.workers.kv_args import parse_kv_args, settings_from_kv
from app.workers.supervised import UntilStopped, stop_on_signals
from app.workers.time_in_force import expires_at

__all__ = [
    "ACCEPTED_KEYS",
    "WORKER_NAME",
    "OpenOrder",
    "VenueStats",
    "VenueUpdates",
    "VenueUpdatesConfig",
    "main",
    "open_orders_from",
    "register_readiness",
]

log = logging.getLogger("app.workers.venue_updates")

WORKER_NAME = "venue-updates"

ACCEPTED_KEYS: tuple[str, ...] = (
    "BROKER",
    "ALPACA_PAPER",
    "ALPACA_TRADING_BASE_URL",
    "ALPACA_STREAM_URL",
    "VENUE_HEARTBEAT_S",
    "VENUE_MAX_FRAME_AGE_S",
    "VENUE_RECONNECT_INITIAL_S",
    "VENUE_RECONNECT_MAX_S",
    "VENUE_RECONNECT_MAX_ATTEMPTS",
    "VENUE_CATCHUP_OVERLAP_S",
    "VENUE_CATCHUP_LOOKBACK_H",
    "VENUE_SWEEP_INTERVAL_S",
    "EH_FQDN",
    "EH_HUB_ORDERS",
    "EH_CONNECTION_STRING",
    "STORAGE_ACCOUNT",
    "AZURE_STORAGE_CONNECTION_STRING",
    "BLOB_URL",
    "BUS_URL",
    "REDIS_URL",
    "DATABASE_URL",
    "DATA_DIR",
    "LOCAL_DEV",
    "LOG_LEVEL",
)
"""Keys ``ai-trader venue stream`` takes as ``KEY=VALUE`` arguments."""

_OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
_REMEMBERED_ORDERS = 100_000
"""Orders whose last published state the worker remembers (to skip repeats); older ones are
forgotten first, which only means a repeat is published and deduplicated downstream."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueUpdatesConfig:
    """Timings and targets of the worker (see the module docstring for what each does)."""

    hub: str
    venue: str
    heartbeat_s: float = 10.0
    max_frame_age_s: float = 30.0
    connect_timeout_s: float = 10.0
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    reconnect_max_attempts: int = 30
    catchup_overlap_s: float = 60.0
    catchup_lookback_s: float = 24 * 3600.0
    sweep_interval_s: float = 60.0
    sweep_venue_orders: bool = False
    """Also expire orders a venue holds (``broker_order_id`` set): only for venues that report
    nothing themselves (the simulated broker)."""
    publish_retry_initial_s: float = 0.2
    publish_retry_max_s: float = 30.0

    def __post_init__(self) -> None:
        positive = {
            "heartbeat_s": self.heartbeat_s,
            "max_frame_age_s": self.max_frame_age_s,
            "connect_timeout_s": self.connect_timeout_s,
            "reconnect_initial_s": self.reconnect_initial_s,
            "reconnect_max_s": self.reconnect_max_s,
            "catchup_lookback_s": self.catchup_lookback_s,
            "sweep_interval_s": self.sweep_interval_s,
            "publish_retry_initial_s": self.publish_retry_initial_s,
            "publish_retry_max_s": self.publish_retry_max_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"venue updates: {name} must be > 0, got {value}")
        if self.catchup_overlap_s < 0:
            raise ConfigError(f"venue updates: catchup_overlap_s must be >= 0, got {self.catchup_overlap_s}")
        if self.reconnect_max_attempts < 1:
            raise ConfigError("venue updates: reconnect_max_attempts must be at least 1")
        if self.heartbeat_s >= self.max_frame_age_s:
            raise ConfigError(
                f"VENUE_HEARTBEAT_S ({self.heartbeat_s}) must be below VENUE_MAX_FRAME_AGE_S "
                f"({self.max_frame_age_s}): a quiet stream is pinged before it counts as silent"
            )
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ConfigError(
                f"VENUE_RECONNECT_INITIAL_S ({self.reconnect_initial_s}) must not exceed "
                f"VENUE_RECONNECT_MAX_S ({self.reconnect_max_s})"
            )

    @classmethod
    def of(cls, settings: Settings) -> VenueUpdatesConfig:
        """The worker's config from the process's settings (called by its entry point)."""
        from app.execution.factory import broker_label

        return cls(
            hub=settings.EH_HUB_ORDERS,
            venue=broker_label(settings),
            heartbeat_s=settings.VENUE_HEARTBEAT_S,
            max_frame_age_s=settings.VENUE_MAX_FRAME_AGE_S,
            reconnect_initial_s=settings.VENUE_RECONNECT_INITIAL_S,
            reconnect_max_s=settings.VENUE_RECONNECT_MAX_S,
            reconnect_max_attempts=settings.VENUE_RECONNECT_MAX_ATTEMPTS,
            catchup_overlap_s=settings.VENUE_CATCHUP_OVERLAP_S,
            catchup_lookback_s=settings.VENUE_CATCHUP_LOOKBACK_H * 3600.0,
            sweep_interval_s=settings.VENUE_SWEEP_INTERVAL_S,
            sweep_venue_orders=settings.BROKER == "simulated",
        )


class OpenOrder(Protocol):
    """What the sweep reads of an open order (the orders repository's ``OrderView`` has it)."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def broker_order_id(self) -> str | None: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def time_in_force(self) -> str: ...
    @property
    def qty(self) -> Decimal | None: ...
    @property
    def notional(self) -> Decimal | None: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def stop_price(self) -> Decimal | None: ...
    @property
    def status(self) -> str: ...
    @property
    def strategy(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(slots=True)
class VenueStats:
    connects: int = 0
    reconnects: int = 0
    silent_streams: int = 0
    catch_ups: int = 0
    frames: int = 0
    frames_rejected: int = 0
    published: int = 0
    fills_published: int = 0
    repeats_skipped: int = 0
    expired: int = 0


@dataclass(slots=True)
class _Known:
    """The last state of one venue order this worker published."""

    rank: int
    seen_at: datetime
    fills: set[str] = field(default_factory=set)
    filled_qty: Decimal = Decimal(0)


class _StopFlag(stop_base):
    """Stop retrying once the worker is asked to stop."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.flag.is_set()


class _Dropped(Exception):
    """A connection that had been healthy dropped: reconnect with a fresh attempt budget."""

    def __init__(self, cause: StreamLost) -> None:
        super().__init__(str(cause))
        self.cause = cause


class VenueUpdates:
    """Follows one venue's order updates and sweeps orders past their time in force.

    Collaborators come in as arguments: ``publisher`` (the bus ``exec.orders`` lives on),
    ``feed`` (the venue's stream and catch-up; ``None`` for a venue without one),
    ``open_orders`` (reads the open orders of ``trading.orders``; ``None`` turns the sweep
    off), ``clock`` (wall time for the sweep and event times) and ``status`` (stores the
    status record).
    """

    def __init__(
        self,
        publisher: Bus,
        config: VenueUpdatesConfig,
        *,
        feed: VenueFeed | None = None,
        open_orders: Callable[[], Iterable[OpenOrder]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        status: Callable[[ConsumerStatus], None] | None = None,
    ) -> None:
        self.publisher = publisher
        self.config = config
        self.feed = feed
        self._open_orders = open_orders
        self._clock = clock
        self._status = status
        self.stats = VenueStats()
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._open_ids: set[str] = set()
        self._last_update: datetime | None = None
        self._alive_at: float | None = None
        self._catchup_due: float | None = None
        self._gap_since: datetime | None = None
        self._stop_flag = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._state = "starting"
        self._lock = threading.Lock()  # the sweep thread and the loop both publish
        self._until = UntilStopped(
            initial_s=config.publish_retry_initial_s,
            max_s=config.publish_retry_max_s,
            stopping=self._stop_flag.is_set,
        )

    # --- control ------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop the loops (thread- and signal-safe); :meth:`run` returns soon after."""
        self._stop_flag.set()
        loop, event = self._loop, self._stop
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    @property
    def stopping(self) -> bool:
        return self._stop_flag.is_set()

    def frame_age_s(self) -> float | None:
        """Seconds since the last frame or answered ping; ``None`` before the first connect."""
        alive = self._alive_at
        return None if alive is None else max(0.0, time.monotonic() - alive)

    def run(self) -> VenueStats:
        """Run until stopped.

        Raises:
            RetryableError: the venue stayed unreachable for ``reconnect_max_attempts``
                connects in a row, or the bus kept failing until the stop.
            ConfigError: the venue refused the credentials.
        """
        asyncio.run(self._main())
        return self.stats

    # --- the loops ----------------------------------------------------------------------
    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.stopping:
            self._stop.set()
        config = self.config
        log.info(
            "venue updates started",
            extra={"venue": config.venue, "hub": config.hub, "stream": self.feed is not None},
        )
        loops = [self._report_forever()]
        if self._open_orders is not None:
            loops.append(self._sweep_forever())
        if self.feed is not None:
            loops.append(self._stream_forever())
        tasks = [asyncio.create_task(loop) for loop in loops]
        self._state = "running"
        failure: BaseException | None = None
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            failure = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
        finally:
            self.request_stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._state = "failed" if failure is not None else "stopped"
            await asyncio.to_thread(self._report)
        log.info("venue updates stopped", extra={"venue": config.venue, **asdict(self.stats)})
        if failure is not None:
            raise failure

    async def _sleep(self, seconds: float) -> None:
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(0.0, seconds))

    async def _report_forever(self) -> None:
        while not self.stopping:
            await asyncio.to_thread(self._report)
            await self._sleep(self.config.heartbeat_s)

    async def _sweep_forever(self) -> None:
        while not self.stopping:
            try:
                await asyncio.to_thread(self.sweep_once)
            except AiTraderError as exc:  # the next sweep tries again; nothing is lost
                log.warning("time-in-force sweep failed: %s", exc)
            await self._sleep(self.config.sweep_interval_s)

    async def _stream_forever(self) -> None:
        config = self.config
        first = True
        while not self.stopping:
            if not first:
                # a healthy connection dropped: wait a little (jittered) before reconnecting
                self.stats.reconnects += 1
                await self._sleep(random.uniform(0, config.reconnect_initial_s))
            first = False
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(StreamLost),
                wait=wait_exponential_jitter(
                    multiplier=config.reconnect_initial_s,
                    max=config.reconnect_max_s,
                    jitter=config.reconnect_initial_s,
                ),
                stop=stop_any(stop_after_attempt(config.reconnect_max_attempts), _StopFlag(self._stop_flag)),
                sleep=self._sleep,
                before_sleep=self._before_reconnect,
                reraise=True,
            )
            try:
                async for attempt in retrying:
                    with attempt:
                        await self._session()
            except _Dropped:
                continue
            except StreamLost as exc:
                if self.stopping:
                    return
                raise RetryableError(
                    f"venue stream {config.venue}: {config.reconnect_max_attempts} connects in a row failed; "
                    f"last: {exc}"
                ) from exc
            return  # the session returned: stop requested

    def _before_reconnect(self, state: RetryCallState) -> None:
        self.stats.reconnects += 1
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "venue stream %s unavailable (attempt %d of %d), reconnecting in %.1f s: %s",
            self.config.venue,
            state.attempt_number,
            self.config.reconnect_max_attempts,
            wait,
            error,
            extra={"attempt": state.attempt_number, "venue": self.config.venue},
        )

    async def _session(self) -> None:
        """One connection: connect, catch up, listen. Returns only when stopping."""
        assert self.feed is not None
        connection = await self.feed.connect(self.config.connect_timeout_s)
        self.stats.connects += 1
        started = time.monotonic()
        self._mark_alive()
        log.info(
            "venue stream connected", extra={"venue": self.config.venue, "connects": self.stats.connects}
        )
        try:
            await self._catch_up()
            caught_up = time.monotonic()
            try:
                await self._listen(connection)
            except StreamLost as lost:
                if isinstance(lost, StreamSilent):
                    connection.abort()  # nothing answers: no close handshake to wait for
                healthy = time.monotonic() - caught_up >= self.config.heartbeat_s
                log.warning(
                    "venue stream lost after %.1f s: %s",
                    time.monotonic() - started,
                    lost,
                    extra={"venue": self.config.venue},
                )
                if healthy:
                    raise _Dropped(lost) from lost
                raise
        finally:
            await connection.close()

    async def _listen(self, connection: StreamConnection) -> None:
        config = self.config
        while not self.stopping:
            due = self._catchup_due
            if due is not None and time.monotonic() >= due:
                await self._catch_up()
            age = self.frame_age_s() or 0.0
            if age >= config.max_frame_age_s:
                self.stats.silent_streams += 1
                raise StreamSilent(
                    f"no frame and no answered ping for {age:.1f} s (limit {config.max_frame_age_s} s)"
                )
            wait = min(config.heartbeat_s, config.max_frame_age_s - age)
            try:
                frame = await connection.receive(wait)
            except OrderRejected as exc:
                self.stats.frames_rejected += 1
                log.error("unreadable venue frame skipped: %s", exc)
                self._mark_alive()
                continue
            if frame is None:
                if self.stopping:
                    return
                # quiet: ask the server whether the connection still lives
                remaining = config.max_frame_age_s - (self.frame_age_s() or 0.0)
                if remaining <= 0:
                    continue  # the age check above declares it silent
                try:
                    await connection.ping(remaining)
                except StreamSilent:
                    self.stats.silent_streams += 1
                    raise
                self._mark_alive()
                continue
            self._mark_alive()
            self.stats.frames += 1
            await self._on_frame(frame)

    async def _on_frame(self, frame: Any) -> None:
        assert self.feed is not None
        try:
            update = self.feed.parse(frame)
        except OrderRejected as exc:
            self.stats.frames_rejected += 1
            log.error(
                "venue frame not understood, skipped (the next catch-up reads the order again): %s",
                exc,
                extra={"venue": self.config.venue},
            )
            return
        if update is None:
            return  # a control frame (authorization, listening ...)
        if update.event in ("trade_bust", "trade_correct"):
            log.warning(
                "venue reported %s for order %s: the book may need `ai-trader portfolio reconcile`",
                update.event,
                update.order.broker_order_id,
            )
        self._check_gap(update)
        await self._publish_async(update.order, update.filled_qty)

    def _check_gap(self, update: VenueUpdate) -> None:
        """Schedule a catch-up when a fill shows that an earlier execution was never seen."""
        order = update.order
        known = self._known.get(order.broker_order_id or order.client_order_id)
        if known is None or update.filled_qty is None or not order.fills:
            return
        before = update.filled_qty - sum((f.qty for f in order.fills), Decimal(0))
        if before > known.filled_qty:
            log.warning(
                "order %s: an execution between %s and %s was not seen; catching up",
                order.broker_order_id,
                known.filled_qty,
                before,
            )
            self._catchup_due = time.monotonic()
            # the missed execution happened after the order's last update seen here
            since = known.seen_at
            self._gap_since = since if self._gap_since is None else min(self._gap_since, since)

    async def _catch_up(self) -> None:
        assert self.feed is not None
        config = self.config
        now = self._clock()
        if self._last_update is None:
            since = now - timedelta(seconds=config.catchup_lookback_s)
        else:
            since = min(self._last_update, self._gap_since or self._last_update)
            since -= timedelta(seconds=config.catchup_overlap_s)
        watch = frozenset(self._open_ids)
        try:
            result = await asyncio.to_thread(self.feed.catch_up, since, watch)
        except (RetryableError, OrderRejected) as exc:
            raise StreamLost(f"catch-up failed: {exc}") from exc
        published = 0
        for report in result.reports:
            filled = result.filled_qty.get(report.broker_order_id or "")
            published += await self._publish_async(report, filled)
        self.stats.catch_ups += 1
        self._gap_since = None
        self._catchup_due = time.monotonic() + config.heartbeat_s if result.incomplete else None
        log.info(
            "venue catch-up done",
            extra={
                "venue": config.venue,
                "since": since.isoformat(),
                "orders": len(result.reports),
                "published": published,
                "incomplete": len(result.incomplete),
            },
        )

    def _mark_alive(self) -> None:
        self._alive_at = time.monotonic()

    # --- publishing ---------------------------------------------------------------------
    def _fresh(self, report: OrderEvent) -> OrderEvent | None:
        """``report`` less what was already published for its order; ``None`` if nothing is new."""
        key = report.broker_order_id or report.client_order_id
        known = self._known.get(key)
        if known is None:
            return report
        fills = [f for f in report.fills if f.venue_fill_id not in known.fills]
        if not fills and status_rank(report.status) <= known.rank:
            return None
        return report if len(fills) == len(report.fills) else report.model_copy(update={"fills": fills})

    def _remember(self, report: OrderEvent, filled_qty: Decimal | None) -> None:
        key = report.broker_order_id or report.client_order_id
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = _Known(rank=status_rank(report.status), seen_at=report.ts)
        self._known.move_to_end(key)
        known.rank = max(known.rank, status_rank(report.status))
        known.seen_at = max(known.seen_at, report.ts)
        known.fills.update(f.venue_fill_id for f in report.fills)
        if filled_qty is not None:
            known.filled_qty = max(known.filled_qty, filled_qty)
        while len(self._known) > _REMEMBERED_ORDERS:
            self._known.popitem(last=False)
        if report.status.is_terminal:
            self._open_ids.discard(key)
        else:
            self._open_ids.add(key)
        if self._last_update is None or report.ts > self._last_update:
            self._last_update = report.ts

    async def _publish_async(self, report: OrderEvent, filled_qty: Decimal | None) -> int:
        fresh = self._fresh(report)
        if fresh is None:
            self.stats.repeats_skipped += 1
            self._remember(report, filled_qty)
            return 0
        envelope = _envelope(fresh)
        await self._until.call_async(
            f"publishing to {self.config.hub}",
            lambda: asyncio.to_thread(self._publish, [envelope]),
            sleep=self._sleep,
        )
        self.stats.published += 1
        self.stats.fills_published += len(fresh.fills)
        self._remember(report, filled_qty)
        return 1

    def _publish(self, envelopes: Sequence[Envelope]) -> None:
        with self._lock:
            self.publisher.publish(self.config.hub, envelopes)

    # --- the time-in-force sweep --------------------------------------------------------
    def sweep_once(self, now: datetime | None = None) -> list[OrderEvent]:
        """Publish ``expired`` for every open order past its time in force; return them.

        Orders a streaming venue holds are left to the venue (see the module docstring).
        An order whose time cannot be placed on the calendar is logged and skipped.

        Raises:
            RetryableError, StorageError: the orders could not be read.
            BusError: the updates could not be published (the next sweep tries again).
        """
        if self._open_orders is None:
            return []
        moment = now or self._clock()
        expired: list[OrderEvent] = []
        for order in self._open_orders():
            if order.broker_order_id and not self.config.sweep_venue_orders:
                continue
            try:
                deadline = expires_at(order.time_in_force, order.created_at)
            except InputError as exc:
                log.warning("order %s not swept: %s", order.client_order_id, exc)
                continue
            if deadline is None or moment < deadline:
                continue
            try:
                expired.append(_expiry(order, moment))
            except ValueError as exc:  # a stored row that no longer makes a valid event
                log.error("order %s cannot be expired: %s", order.client_order_id, exc)
        if expired:
            self._publish([_envelope(event, reason="expired-by-sweep") for event in expired])
            self.stats.expired += len(expired)
            for event in expired:
                log.info(
                    "order expired after its time in force",
                    extra={
                        "client_order_id": event.client_order_id,
                        "symbol": event.symbol,
                        "time_in_force": event.time_in_force,
                    },
                )
        return expired

    # --- status ---------------------------------------------------------------------------
    def status_record(self) -> ConsumerStatus:
        age = self.frame_age_s() if self.feed is not None else 0.0
        return ConsumerStatus(
            name=WORKER_NAME,
            hub=self.config.hub,
            group=self.config.venue,
            state=self._state,
            lag_seconds=round(age if age is not None else 0.0, 3),
            events_behind=0,
            events=self.stats.published + self.stats.expired,
            dead_lettered=self.stats.frames_rejected,
            heartbeat_s=self.config.heartbeat_s,
            updated_at=datetime.now(UTC).isoformat(),
            host=socket.gethostname(),
            pid=os.getpid(),
        )

    def _report(self) -> None:
        if self._status is None:
            return
        try:
            self._status(self.status_record())
        except AiTraderError as exc:
            log.warning("cannot write the venue status: %s", exc)


def _event_id(event: OrderEvent, reason: str) -> str:
    parts = [
        ORDER_EVENT_UPDATE,
        reason,
        event.broker_order_id or event.client_order_id,
        event.status.value,
        *sorted(f.venue_fill_id for f in event.fills),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _envelope(event: OrderEvent, reason: str = "venue") -> Envelope:
    return Envelope.wrap(
        ORDER_EVENT_UPDATE,
        event,
        partition_key=event.symbol,
        correlation_id=f"{WORKER_NAME}:{reason}",
        event_id=_event_id(event, reason),
    )


def _expiry(order: OpenOrder, moment: datetime) -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "side": order.side,
            "type": order.type,
            "time_in_force": order.time_in_force,
            "qty": order.qty,
            "notional": order.notional if order.qty is None else None,
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "status": OrderStatus.EXPIRED,
            "strategy": order.strategy,
            "broker_order_id": order.broker_order_id,
            "ts": moment,
        }
    )


def open_orders_from(orders: Any, page_size: int = 500) -> Callable[[], list[OpenOrder]]:
    """A reader of every open order through the orders repository's ``list_orders`` pages."""

    def read() -> list[OpenOrder]:
        found: list[OpenOrder] = []
        for status in _OPEN_STATUSES:
            cursor: str | None = None
            while True:
                page = orders.list_orders(limit=page_size, cursor=cursor, status=status)
                found.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return found

    return read


def register_readiness(services: Container) -> None:
    """Make ``/health/ready`` fail while the venue stream is silent or the worker stopped reporting.

    A worker that never ran here, or stopped cleanly, does not fail the check. The stream
    counts as silent once its last frame or answered ping is older than twice
    ``VENUE_MAX_FRAME_AGE_S`` (one age to detect it, one to reconnect).
    """
    from app.execution.factory import broker_label

    settings = services.settings
    venue = broker_label(settings)
    limit = 2 * settings.VENUE_MAX_FRAME_AGE_S

    def check() -> None:
        status = read_status(
            services.blob, settings.BLOB_CONTAINER_DATA, WORKER_NAME, settings.EH_HUB_ORDERS, venue
        )
        if status is None or status.state not in ("running", "failed"):
            return
        if status.state == "failed":
            raise BusError(f"degraded: {WORKER_NAME} for {venue} stopped after failing (pid {status.pid})")
        if status.lag_seconds > limit:
            raise BusError(
                f"degraded: the {venue} order stream has been silent for {status.lag_seconds:.0f} s "
                f"(limit {limit:.0f} s)"
            )
        age = (datetime.now(UTC) - datetime.fromisoformat(status.updated_at)).total_seconds()
        if age > max(60.0, 3 * status.heartbeat_s):
            raise BusError(
                f"degraded: {WORKER_NAME} for {venue} (pid {status.pid} on {status.host}) "
                f"has not reported for {age:.0f} s"
            )

    services.add_readiness_check("venue_updates", check)


def main(argv: Sequence[str], *, sweep_only: bool = False, at: datetime | None = None) -> int:
    """Run the worker (or, with ``sweep_only``, one sweep) from ``KEY=VALUE`` arguments.

    Returns 0 after a clean stop (SIGTERM or Ctrl-C), 2 for bad arguments, settings or
    credentials, 1 when the venue or the bus kept failing.
    """
    from app.observability import configure_logging
    from app.storage.repositories.orders import OrdersRepository

    try:
        settings = settings_from_kv(parse_kv_args(argv, ACCEPTED_KEYS))
        config = VenueUpdatesConfig.of(settings)
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.LOG_LEVEL, component=WORKER_NAME)
    services = Container(settings)
    feed: VenueFeed | None = None
    worker: VenueUpdates | None = None
    try:
        services.db.upgrade()
        if settings.BROKER == "alpaca" and not sweep_only:
            from app.bootstrap import build_alpaca_trading_config
            from app.execution.alpaca.stream import AlpacaVenueFeed

            feed = AlpacaVenueFeed(build_alpaca_trading_config(settings))
        worker = VenueUpdates(
            services.bus,
            config,
            feed=feed,
            open_orders=open_orders_from(OrdersRepository(services.db)),
            status=lambda record: write_status(services.blob, settings.BLOB_CONTAINER_DATA, record),
        )
        if sweep_only:
            for event in worker.sweep_once(at):
                print(f"expired {event.client_order_id} {event.symbol} ({event.time_in_force})")  # noqa: T201
            return 0

        def stop(name: str) -> None:
            log.info("received %s; stopping", name)
            if worker is not None:
                worker.request_stop()

        with stop_on_signals(stop):
            stats = worker.run()
    except (ConfigError, InputError) as exc:
        log.error("venue updates cannot run: %s", exc)
        return 2
    except AiTraderError as exc:
        log.error("venue updates failed: %s", exc)
        return 1
    finally:
        if feed is not None:
            feed.close()
        services.close()
    log.info("venue updates done", extra=asdict(stats))
    return 0
