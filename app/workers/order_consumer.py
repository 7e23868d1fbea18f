"""The order consumer: ``exec.orders`` events into ``trading.orders`` and ``trading.fills``.

One loop: poll a batch, dead-letter what cannot be an order event, write the rest with
:meth:`~app.storage.repositories.orders.OrdersRepository.apply` in one transaction, and
checkpoint the batch only after that commit. A crash anywhere before the checkpoint means the
batch is delivered again, and the upserts make the second write a no-op, so nothing is lost or
doubled.

While the database is unreachable the loop stops polling and retries the same batch with
exponential backoff. SIGTERM (or Ctrl-C) lets the batch in hand finish (commit and
checkpoint), then the process exits 0.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from pydantic import ValidationError
from tenacity import (
    RetryCallState,
)

from app.bootstrap import Container
from app.bus.consumer_lag import ORDER_CONSUMER
from app.bus.diagnostics import QUICKSEND_EVENT
from app.bus.ports import Consumer, Delivered
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE, OrderEvent
from app.errors import AiTraderError, ConfigError, InputError, RetryableError, StorageError
from app.storage.blob import BlobStore
from app.storage.repositories.orders import OrdersRepository, SourcedOrderEvent
from app.workers.consumer_status import LAG_LIMIT_S, ConsumerStatus, lag_readiness_check, write_status
from app.workers.kv_args import IDLE_EXIT_KEY, idle_exit_seconds, parse_kv_args, settings_from_kv
from app.workers.supervised import StoppedWhileFailing, UntilStopped, stop_on_signals

__all__ = [
    "ACCEPTED_KEYS",
    "CONSUMER_NAME",
    "ConsumerStats",
    "OrderConsumer",
    "OrderConsumerConfig",
    "main",
    "register_readiness",
]

log = logging.getLogger("app.workers.order_consumer")

CONSUMER_NAME = ORDER_CONSUMER

ACCEPTED_KEYS: tuple[str, ...] = (
    "EH_FQDN",
    "EH_HUB_ORDERS",
    "EH_CONSUMER_GROUP",
    "EH_CONNECTION_STRING",
    "STORAGE_ACCOUNT",
    "CHECKPOINT_CONTAINER",
    "AZURE_STORAGE_CONNECTION_STRING",
    "BLOB_URL",
    "BUS_URL",
    "BUS_LEASE_S",
    "REDIS_URL",
    "DATABASE_URL",
    "DATA_DIR",
    "LOCAL_DEV",
    "LOG_LEVEL",
    IDLE_EXIT_KEY,
    "BATCH_SIZE",
)
"""Keys ``scripts/order_consumer.py`` takes as ``KEY=VALUE`` arguments."""

_ORDER_TYPES = frozenset({ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE})
_validate_order: Callable[[object], OrderEvent] = OrderEvent.__pydantic_validator__.validate_python
"""``OrderEvent.model_validate`` without its Python wrapper: the same schema and errors."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderConsumerConfig:
    """How the consumer reads, retries and reports.

    ``idle_exit_s`` ends the run (exit 0) after that long without a new event; ``None``
    runs until stopped. Retries of a failed database or bus call wait between
    ``retry_initial_s`` and ``retry_max_s`` (exponential, with jitter) and go on until the
    call succeeds or a stop is requested.
    """

    hub: str
    group: str
    batch_size: int = 1000
    poll_timeout_s: float = 1.0
    idle_exit_s: float | None = None
    lag_interval_s: float = 5.0
    lag_limit_s: float = LAG_LIMIT_S
    retry_initial_s: float = 0.2
    retry_max_s: float = 30.0


@dataclass(slots=True)
class ConsumerStats:
    batches: int = 0
    events: int = 0
    orders: int = 0
    fills_inserted: int = 0
    dead_lettered: int = 0
    retries: int = 0


class OrderConsumer:
    """Runs the poll -> validate -> upsert -> checkpoint loop over one bus consumer."""

    def __init__(
        self,
        consumer: Consumer,
        orders: OrdersRepository,
        config: OrderConsumerConfig,
        *,
        status: Callable[[ConsumerStatus], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.orders = orders
        self.config = config
        self.stats = ConsumerStats()
        self._status = status
        self._stop = threading.Event()
        self._until = UntilStopped(
            initial_s=config.retry_initial_s,
            max_s=config.retry_max_s,
            stopping=self._stop.is_set,
            on_retry=self._on_retry,
        )
        self._next_lag_check = 0.0
        self._lag = (0.0, 0)
        self._events_at_last_lag_log = -1

    def request_stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> ConsumerStats:
        """Consume until stopped or idle for ``idle_exit_s``.

        Raises:
            RetryableError: a stop was requested while the database or bus was still
                failing; the batch in hand was not checkpointed and will be delivered again.
        """
        config = self.config
        log.info(
            "order consumer started",
            extra={"hub": config.hub, "group": config.group, "idle_exit_s": config.idle_exit_s},
        )
        last_event = time.monotonic()
        try:
            while not self.stopping:
                timeout = config.poll_timeout_s
                if config.idle_exit_s is not None:
                    remaining = config.idle_exit_s - (time.monotonic() - last_event)
                    if remaining <= 0:
                        log.info("no new events for %.1f s; exiting", config.idle_exit_s)
                        break
                    timeout = min(timeout, remaining)
                batch = self._retry("poll", partial(self.consumer.poll, config.batch_size, timeout))
                if batch:
                    self.process(batch)
                    # idle time counts from the end of the last batch: a batch held up by a
                    # database outage must not make the consumer exit with events waiting
                    last_event = time.monotonic()
                self._check_lag()
        except StoppedWhileFailing as exc:
            raise RetryableError(
                f"stopped while {exc}; the batch in hand was not checkpointed and will be redelivered"
            ) from None
        finally:
            self._report("stopped")
        log.info(
            "order consumer stopped",
            extra={"hub": config.hub, "group": config.group, **asdict(self.stats)},
        )
        return self.stats

    def process(self, batch: Sequence[Delivered]) -> None:
        """Handle one polled batch: dead-letter the bad events, write the rest, checkpoint."""
        good: list[SourcedOrderEvent] = []
        for delivered in batch:
            if delivered.envelope is not None and delivered.envelope.type == QUICKSEND_EVENT:
                continue  # a hub health probe (scripts/check_quicksend_eventhubs.py), not an order
            event, reason = _decode(delivered)
            if event is None:
                self._dead_letter(delivered, reason)
            else:
                good.append(event)
        if good:
            self._write(good, batch)
        self._retry("checkpoint", lambda: self.consumer.checkpoint(batch))
        self.stats.batches += 1
        self.stats.events += len(batch)

    # --- internals ----------------------------------------------------------------------
    def _write(self, events: list[SourcedOrderEvent], batch: Sequence[Delivered]) -> None:
        try:
            result = self._retry("database write", lambda: self.orders.apply(events))
        except StorageError as exc:
            # The database refused the batch as a whole (not an outage): write the events
            # one by one so a single bad one is dead-lettered and the rest still land.
            log.warning("batch refused (%s); writing its events one by one", exc)
            delivered_by_event = {d.envelope.event_id: d for d in batch if d.envelope is not None}
            for sourced in events:
                try:
                    one = self._retry("database write", partial(self.orders.apply, [sourced]))
                except StorageError as single:
                    target = delivered_by_event.get(sourced.event_id or "")
                    if target is not None:
                        self._dead_letter(target, f"database refused the event: {single}")
                    continue
                self.stats.orders += one.orders
                self.stats.fills_inserted += one.fills_inserted
            return
        self.stats.orders += result.orders
        self.stats.fills_inserted += result.fills_inserted

    def _dead_letter(self, delivered: Delivered, reason: str) -> None:
        log.warning(
            "dead-lettering event",
            extra={"partition": delivered.partition, "offset": delivered.offset, "reason": reason},
        )
        self._retry("dead-letter", lambda: self.consumer.dead_letter(delivered, reason))
        self.stats.dead_lettered += 1

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        return self._until.call(what, call, sleep=self._pause)

    def _on_retry(self, what: str, state: RetryCallState) -> None:
        self.stats.retries += 1
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s failed (attempt %d), retrying in %.1f s: %s",
            what,
            state.attempt_number,
            wait,
            error,
            extra={"attempt": state.attempt_number},
        )

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _check_lag(self) -> None:
        now = time.monotonic()
        if now < self._next_lag_check:
            return
        self._next_lag_check = now + self.config.lag_interval_s
        try:
            lags = self.consumer.lag()
        except AiTraderError as exc:
            log.warning("cannot measure lag: %s", exc)
            return
        seconds = max((lag.seconds_behind for lag in lags), default=0.0)
        behind = sum(lag.events_behind for lag in lags)
        self._lag = (seconds, behind)
        fields = {"lag_seconds": round(seconds, 3), "events_behind": behind, "events": self.stats.events}
        if seconds > self.config.lag_limit_s:
            log.warning(
                "order consumer is %.0f s behind %s (limit %.0f s)",
                seconds,
                self.config.hub,
                self.config.lag_limit_s,
                extra=fields,
            )
        elif behind or self.stats.events != self._events_at_last_lag_log:
            log.info("order consumer lag", extra=fields)
        else:  # idle and caught up: keep the log quiet
            log.debug("order consumer lag", extra=fields)
        self._events_at_last_lag_log = self.stats.events
        self._report("running")

    def _report(self, state: str) -> None:
        if self._status is None:
            return
        seconds, behind = self._lag if state == "running" else (0.0, 0)
        status = ConsumerStatus(
            name=CONSUMER_NAME,
            hub=self.config.hub,
            group=self.config.group,
            state=state,
            lag_seconds=seconds,
            events_behind=behind,
            events=self.stats.events,
            dead_lettered=self.stats.dead_lettered,
            heartbeat_s=self.config.lag_interval_s,
            updated_at=datetime.now(UTC).isoformat(),
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        try:
            self._status(status)
        except AiTraderError as exc:
            log.warning("cannot write the consumer status: %s", exc)


def _decode(delivered: Delivered) -> tuple[SourcedOrderEvent | None, str]:
    envelope = delivered.envelope
    if envelope is None:
        return None, delivered.error or "the event could not be decoded"
    if envelope.type not in _ORDER_TYPES:
        return None, f"unsupported event type {envelope.type!r} (expected {', '.join(sorted(_ORDER_TYPES))})"
    try:
        event = _validate_order(envelope.payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}" for err in exc.errors()
        )
        return None, f"invalid order event: {problems}"
    return SourcedOrderEvent(event, envelope.event_id, envelope.payload), ""


def register_readiness(services: Container) -> None:
    """Make ``/health/ready`` fail while this platform's order consumer lags past 60 s."""
    settings = services.settings
    services.add_readiness_check(
        "order_consumer",
        lag_readiness_check(services, CONSUMER_NAME, settings.EH_HUB_ORDERS, settings.EH_CONSUMER_GROUP),
    )


def _status_writer(blob: BlobStore, container: str) -> Callable[[ConsumerStatus], None]:
    return lambda status: write_status(blob, container, status)


def _batch_size(values: dict[str, str]) -> int:
    raw = values.get("BATCH_SIZE", os.environ.get("BATCH_SIZE", "1000"))
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= 10_000:
        raise InputError(f"BATCH_SIZE must be a whole number from 1 to 10000, got {raw!r}")
    return size


def main(argv: Sequence[str]) -> int:
    """Run the consumer from ``KEY=VALUE`` arguments; return the process exit code.

    0 after a clean stop (SIGTERM, Ctrl-C or ``IDLE_EXIT_SECONDS``), 2 for bad arguments or
    settings, 1 when the bus or the database kept failing until the stop.
    """
    from app.observability import configure_logging

    try:
        values = parse_kv_args(argv, ACCEPTED_KEYS)
        settings = settings_from_kv(values)
        idle = idle_exit_seconds(values)
        batch_size = _batch_size(values)
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(settings.LOG_LEVEL, component=CONSUMER_NAME)
    services = Container(settings)
    worker: OrderConsumer | None = None
    stop_early = threading.Event()

    def stop(name: str) -> None:
        log.info("received %s; finishing the batch in hand", name)
        stop_early.set()
        if worker is not None:
            worker.request_stop()

    try:
        with stop_on_signals(stop):
            services.db.upgrade()
            config = OrderConsumerConfig(
                hub=settings.EH_HUB_ORDERS,
                group=settings.EH_CONSUMER_GROUP,
                idle_exit_s=idle,
                batch_size=batch_size,
            )
            consumer = services.bus.consumer(config.hub, config.group)
            try:
                worker = OrderConsumer(
                    consumer,
                    services.orders,
                    config,
                    status=_status_writer(services.blob, settings.BLOB_CONTAINER_DATA),
                )
                # Everything built so far lives for the whole run: keep the cyclic garbage
                # collector from rescanning it on every collection of a busy loop.
                gc.collect()
                gc.freeze()
                if stop_early.is_set():  # stopped while still starting: read nothing
                    worker.request_stop()
                stats = worker.run()
            finally:
                consumer.close()
    except (ConfigError, InputError) as exc:
        log.error("order consumer cannot start: %s", exc)
        return 2
    except AiTraderError as exc:
        log.error("order consumer failed: %s", exc)
        return 1
    finally:
        services.close()
    log.info(
        "order consumer done",
        extra={
            "events": stats.events,
            "orders": stats.orders,
            "fills_inserted": stats.fills_inserted,
            "dead_lettered": stats.dead_lettered,
        },
    )
    return 0
