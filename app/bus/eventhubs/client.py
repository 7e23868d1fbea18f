"""Azure Event Hubs implementation of the bus, on the official ``azure-eventhub`` SDK.

Publishing groups events by partition (the same CRC-32 of the partition key the other
backends use, sent as an explicit ``partition_id`` so receipts name the partition) into
``EventDataBatch`` es. Consuming runs ``EventHubConsumerClient.receive_batch`` on a
background thread that hands batches to :meth:`EventHubsConsumer.poll` through a bounded
queue; the SDK balances partitions between consumers of a group through the blob
checkpoint store, and :meth:`EventHubsConsumer.checkpoint` writes the newest offset and
sequence number of each partition there. Dead letters are JSON blobs in the same container.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient, PartitionContext
from azure.eventhub.exceptions import EventHubError

from app.bus.capabilities import Capability
from app.bus.decoding import delivered as make_delivered
from app.bus.envelope import Envelope
from app.bus.eventhubs.config import EventHubsConfig
from app.bus.partitioning import partition_for
from app.bus.ports import DeadLetter, Delivered, PartitionLag, PublishReceipt
from app.bus.provisioning import DEFAULT_RESOURCE_GROUP, az_provision_commands, namespace_from_fqdn
from app.bus.topology import HubSpec
from app.errors import BusError, StorageError
from app.storage.blob import BlobStore

__all__ = ["EventHubsBus", "EventHubsConsumer"]

_log = logging.getLogger(__name__)
_SDK_ERRORS = (EventHubError, AzureError, OSError)


def _raw_body(event: EventData) -> bytes:
    if event.body_type.value != "data":
        return event.body_as_str().encode()
    parts: Any = event.body
    return b"".join(bytes(part) for part in parts)


class EventHubsBus:
    """Bus on an Event Hubs namespace; one producer client per hub, created on first use."""

    kind = "eventhubs"
    capabilities = frozenset({Capability.PEEK, Capability.PARTITION_OWNERSHIP})

    def __init__(
        self, config: EventHubsConfig, hubs: Sequence[HubSpec], dead_letter_store: BlobStore | None = None
    ) -> None:
        self.config = config
        self._hubs = {spec.name: spec for spec in hubs}
        self._dead_letter_store = dead_letter_store
        self._producers: dict[str, EventHubProducerClient] = {}
        self._lock = threading.Lock()
        self._credential: Any = None
        self._checkpoint_store: Any = None

    # --- clients ------------------------------------------------------------------------
    def _get_credential(self) -> Any:
        if self._credential is None:
            from azure.identity import AzureCliCredential, DefaultAzureCredential

            self._credential = (
                AzureCliCredential() if self.config.use_cli_credential else DefaultAzureCredential()
            )
        return self._credential

    def producer(self, hub: str) -> EventHubProducerClient:
        """The producer client of ``hub`` (also used for hub and partition properties)."""
        self.hub(hub)
        with self._lock:
            client = self._producers.get(hub)
            if client is None:
                if self.config.connection_string:
                    client = EventHubProducerClient.from_connection_string(
                        self.config.connection_string, eventhub_name=hub, retry_total=self.config.retry_total
                    )
                else:
                    assert self.config.fully_qualified_namespace is not None
                    client = EventHubProducerClient(
                        self.config.fully_qualified_namespace,
                        hub,
                        self._get_credential(),
                        retry_total=self.config.retry_total,
                    )
                self._producers[hub] = client
            return client

    def consumer_client(self, hub: str, group: str, *, balanced: bool = True) -> EventHubConsumerClient:
        """A new consumer client; ``balanced`` adds the blob checkpoint store (if configured)."""
        kwargs: dict[str, Any] = {"prefetch": self.config.prefetch, "retry_total": self.config.retry_total}
        store = self.checkpoint_store() if balanced else None
        if store is not None:
            kwargs.update(
                checkpoint_store=store,
                load_balancing_interval=max(self.config.ownership_s / 3, 0.2),
                partition_ownership_expiration_interval=self.config.ownership_s,
                load_balancing_strategy="greedy",
            )
        if self.config.connection_string:
            return EventHubConsumerClient.from_connection_string(
                self.config.connection_string, group, eventhub_name=hub, **kwargs
            )
        assert self.config.fully_qualified_namespace is not None
        return EventHubConsumerClient(
            self.config.fully_qualified_namespace, hub, group, self._get_credential(), **kwargs
        )

    def checkpoint_store(self) -> Any:
        """The ``BlobCheckpointStore`` on the checkpoint container, or ``None`` when not configured."""
        if not self.config.durable_checkpoints:
            return None
        with self._lock:
            if self._checkpoint_store is None:
                from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
                from azure.storage.blob import ContainerClient

                container = self.config.checkpoint_container
                if self.config.storage_connection_string:
                    conn = self.config.storage_connection_string
                    store = BlobCheckpointStore.from_connection_string(conn, container)
                    container_client = ContainerClient.from_connection_string(conn, container)
                else:
                    url = f"https://{self.config.storage_account}.blob.core.windows.net"
                    store = BlobCheckpointStore(url, container, self._get_credential())
                    container_client = ContainerClient(url, container, credential=self._get_credential())
                try:
                    container_client.create_container()
                except ResourceExistsError:
                    pass
                except AzureError as exc:
                    _log.warning("could not create checkpoint container %s: %s", container, exc)
                finally:
                    container_client.close()
                self._checkpoint_store = store
            return self._checkpoint_store

    # --- Bus protocol -------------------------------------------------------------------
    def publish(self, hub: str, events: Sequence[Envelope]) -> list[PublishReceipt]:
        return self._send(hub, [(e.partition_key, e.to_bytes(), e.event_id) for e in events])

    def publish_raw(self, hub: str, partition_key: str, body: bytes) -> PublishReceipt:
        """Send bytes that need not be an envelope (what a foreign or broken producer sends)."""
        return self._send(hub, [(partition_key, body, "")])[0]

    def _send(self, hub: str, items: Sequence[tuple[str, bytes, str]]) -> list[PublishReceipt]:
        spec = self.hub(hub)
        if not items:
            return []
        producer = self.producer(hub)
        by_partition: dict[int, list[bytes]] = {}
        receipts = []
        for key, body, event_id in items:
            partition = partition_for(key, spec.partitions)
            by_partition.setdefault(partition, []).append(body)
            receipts.append(PublishReceipt(hub, partition, "", event_id))
        try:
            for partition, bodies in by_partition.items():
                batch = producer.create_batch(partition_id=str(partition))
                for body in bodies:
                    try:
                        batch.add(EventData(body))
                    except ValueError:
                        if len(batch) == 0:
                            raise BusError(f"an event of {len(body)} bytes is too large for {hub}") from None
                        producer.send_batch(batch)
                        batch = producer.create_batch(partition_id=str(partition))
                        batch.add(EventData(body))
                if len(batch):
                    producer.send_batch(batch)
        except _SDK_ERRORS as exc:
            raise BusError(f"publish to {hub} failed: {exc}") from exc
        return receipts

    def consumer(self, hub: str, group: str) -> EventHubsConsumer:
        """A consumer of ``hub`` for ``group``.

        Raises:
            ConfigError: no checkpoint store is configured and in-memory checkpoints were not
                allowed (see :meth:`EventHubsConfig.require_checkpoint_store`).
            BusError: the hub cannot be read (wrong namespace, hub or credential).
        """
        spec = self.hub(hub)
        self.config.require_checkpoint_store(hub, group)
        return EventHubsConsumer(self, spec, group)

    def dead_letters(self, hub: str, group: str, limit: int = 100) -> list[DeadLetter]:
        self.hub(hub)
        store = self._require_dead_letter_store()
        prefix = f"dead-letters/{hub}/{group}/"
        container = self.config.checkpoint_container
        try:
            keys = sorted(store.list(container, prefix), reverse=True)[:limit]
            replayed = {
                key.rsplit("/", 1)[-1]: key
                for key in store.list(container, f"dead-letters-replayed/{hub}/{group}/")
            }
            out = []
            for key in keys:
                data = json.loads(store.get_bytes(container, key))
                name = key.rsplit("/", 1)[-1]
                mark = replayed.get(name)
                out.append(
                    DeadLetter(
                        hub,
                        group,
                        int(data["partition"]),
                        str(data["offset"]),
                        str(data["reason"]),
                        base64.b64decode(data["raw"]),
                        datetime.fromisoformat(data["recorded_at"]),
                        name,
                        datetime.fromisoformat(store.get_text(container, mark)) if mark else None,
                    )
                )
        except StorageError as exc:
            raise BusError(f"reading dead letters of {hub}/{group} failed: {exc}") from exc
        return out

    def mark_replayed(self, hub: str, group: str, ids: Sequence[str]) -> None:
        """One marker blob per replayed dead letter, holding the replay time."""
        self.hub(hub)
        store = self._require_dead_letter_store()
        now = datetime.now(UTC).isoformat()
        try:
            for name in ids:
                store.put_text(
                    self.config.checkpoint_container, f"dead-letters-replayed/{hub}/{group}/{name}", now
                )
        except StorageError as exc:
            raise BusError(f"marking dead letters of {hub}/{group} replayed failed: {exc}") from exc

    def _require_dead_letter_store(self) -> BlobStore:
        if self._dead_letter_store is None:
            raise BusError("dead letters on Event Hubs need a blob store (the checkpoint container)")
        return self._dead_letter_store

    def record_dead_letter(self, hub: str, group: str, delivered: Delivered, reason: str) -> None:
        store = self._require_dead_letter_store()
        now = datetime.now(UTC)
        key = (
            f"dead-letters/{hub}/{group}/{now.strftime('%Y%m%dT%H%M%S%f')}-"
            f"p{delivered.partition}-{delivered.sequence}.json"
        )
        record = {
            "partition": delivered.partition,
            "offset": delivered.offset,
            "sequence": delivered.sequence,
            "reason": reason,
            "raw": base64.b64encode(delivered.raw).decode(),
            "recorded_at": now.isoformat(),
        }
        try:
            store.put_bytes(self.config.checkpoint_container, key, json.dumps(record).encode())
        except StorageError as exc:
            raise BusError(f"dead-letter on {hub}/{group} failed: {exc}") from exc

    def provision(self) -> list[str]:
        """Event Hubs are created on the control plane: return the ``az`` commands to run."""
        namespace = namespace_from_fqdn(self.config.fully_qualified_namespace)
        commands = az_provision_commands(list(self._hubs.values()), DEFAULT_RESOURCE_GROUP, namespace)
        return [" ".join(command) for command in commands]

    def ping(self) -> None:
        hub = next(iter(self._hubs))
        try:
            self.producer(hub).get_eventhub_properties()
        except _SDK_ERRORS as exc:
            raise BusError(f"Event Hubs at {self.config.namespace_label} does not answer: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            producers, self._producers = list(self._producers.values()), {}
        for producer in producers:
            producer.close()

    # --- administration -----------------------------------------------------------------
    def hub(self, name: str) -> HubSpec:
        """The spec of a configured hub; raises ``BusError`` for an unknown name."""
        try:
            return self._hubs[name]
        except KeyError:
            known = ", ".join(sorted(self._hubs))
            raise BusError(f"unknown hub {name!r}; configured hubs: {known}") from None

    def apply_retention(self, now: float | None = None) -> int:
        """Event Hubs enforces retention itself; nothing to do here."""
        return 0

    def partition_properties(self, hub: str) -> list[dict[str, Any]]:
        producer = self.producer(hub)
        try:
            return [producer.get_partition_properties(str(p)) for p in range(self.hub(hub).partitions)]
        except _SDK_ERRORS as exc:
            raise BusError(f"reading partition properties of {hub} failed: {exc}") from exc

    def peek(self, hub: str, limit: int = 10) -> list[Delivered]:
        """The newest ``limit`` events of ``hub`` across partitions, oldest first."""
        wanted: dict[str, tuple[int, int]] = {}
        for props in self.partition_properties(hub):
            if props["is_empty"]:
                continue
            last = int(props["last_enqueued_sequence_number"])
            first = max(int(props["beginning_sequence_number"]), last - limit + 1)
            wanted[str(props["id"])] = (first, last)
        if not wanted:
            return []
        got: list[Delivered] = []
        done: set[str] = set()
        client = self.consumer_client(hub, "$Default", balanced=False)

        def on_batch(context: PartitionContext, events: list[EventData]) -> None:
            partition = context.partition_id
            for event in events:
                got.append(_to_delivered(hub, int(partition), event))
                if int(event.sequence_number or 0) >= wanted[partition][1]:
                    done.add(partition)
            if len(done) == len(wanted):
                threading.Thread(target=client.close, daemon=True).start()

        worker = threading.Thread(
            target=client.receive_batch,
            kwargs={
                "on_event_batch": on_batch,
                "max_batch_size": limit,
                "starting_position": {p: first for p, (first, _) in wanted.items()},
                "starting_position_inclusive": True,
                "max_wait_time": 0.5,
            },
            daemon=True,
        )
        worker.start()
        worker.join(self.config.peek_timeout_s)
        client.close()
        worker.join(5)
        newest = sorted(got, key=lambda d: (d.enqueued_at, d.partition, d.sequence))
        return newest[-limit:]


def _to_delivered(hub: str, partition: int, event: EventData) -> Delivered:
    enqueued = event.enqueued_time or datetime.now(UTC)
    sequence = int(event.sequence_number or 0)
    return make_delivered(hub, partition, str(event.offset), sequence, enqueued, _raw_body(event))


class EventHubsConsumer:
    """Receives one hub for one consumer group on a background thread; ``poll`` drains it."""

    def __init__(self, bus: EventHubsBus, spec: HubSpec, group: str) -> None:
        self._bus = bus
        self._spec = spec
        self.hub = spec.name
        self.group = group
        self._client = bus.consumer_client(spec.name, group)
        try:
            # Fail fast on a wrong namespace, hub or credential: the SDK's receive loop would
            # otherwise retry forever (and spin while it owns no partition).
            self._client.get_partition_ids()
        except _SDK_ERRORS as exc:
            self._client.close()
            raise BusError(f"cannot read {spec.name} on {bus.config.namespace_label}: {exc}") from exc
        self._store = bus.checkpoint_store()
        self._queue: queue.Queue[list[Delivered]] = queue.Queue(maxsize=8)
        self._ready: deque[Delivered] = deque()
        self._contexts: dict[int, PartitionContext] = {}
        self._in_flight: dict[int, deque[Delivered]] = {}
        self._memory_checkpoints: dict[int, int] = {}
        self._errors: list[Exception] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"eh-consumer-{spec.name}-{group}", daemon=True
        )
        self._thread.start()

    @property
    def partitions(self) -> list[int]:
        """Partitions this consumer has received from (its current claims, as the SDK balances)."""
        return sorted(self._contexts)

    def _run(self) -> None:
        try:
            self._client.receive_batch(
                on_event_batch=self._on_batch,
                on_error=self._on_error,
                on_partition_initialize=self._on_partition_initialize,
                on_partition_close=self._on_partition_close,
                max_batch_size=self._bus.config.prefetch,
                starting_position="-1",
            )
        except Exception as exc:  # the thread must report, not die silently
            self._errors.append(exc)

    def _on_partition_initialize(self, context: PartitionContext) -> None:
        self._contexts[int(context.partition_id)] = context

    def _on_partition_close(self, context: PartitionContext, reason: Any) -> None:
        self._contexts.pop(int(context.partition_id), None)

    def _on_error(self, context: PartitionContext | None, error: Exception) -> None:
        _log.warning("Event Hubs consumer %s/%s: %s", self.hub, self.group, error)

    def _on_batch(self, context: PartitionContext, events: list[EventData]) -> None:
        partition = int(context.partition_id)
        self._contexts[partition] = context
        batch = [_to_delivered(self.hub, partition, event) for event in events]
        while not self._closing.is_set():
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue

    def poll(self, max_events: int = 500, timeout_s: float = 1.0) -> list[Delivered]:
        if max_events < 1:
            raise BusError("max_events must be at least 1")
        self._check_open()
        deadline = time.monotonic() + timeout_s
        while not self._ready:
            remaining = deadline - time.monotonic()
            if self._errors:
                raise BusError(f"consumer of {self.hub}/{self.group} stopped: {self._errors[-1]}")
            try:
                self._ready.extend(self._queue.get(timeout=max(0.0, min(remaining, 0.2))))
            except queue.Empty:
                if remaining <= 0:
                    return []
        while len(self._ready) < max_events:
            try:
                self._ready.extend(self._queue.get_nowait())
            except queue.Empty:
                break
        out = [self._ready.popleft() for _ in range(min(max_events, len(self._ready)))]
        for item in out:
            self._in_flight.setdefault(item.partition, deque()).append(item)
        return out

    def checkpoint(self, delivered: Sequence[Delivered]) -> None:
        self._check_open()
        newest: dict[int, Delivered] = {}
        for item in delivered:
            if item.hub != self.hub:
                raise BusError(f"cannot checkpoint an event of {item.hub} on a consumer of {self.hub}")
            if item.partition not in newest or item.sequence > newest[item.partition].sequence:
                newest[item.partition] = item
        for partition, item in newest.items():
            flight = self._in_flight.get(partition)
            while flight and flight[0].sequence <= item.sequence:
                flight.popleft()
            self._memory_checkpoints[partition] = max(
                self._memory_checkpoints.get(partition, -1), item.sequence
            )
            if self._store is None:
                continue
            context = self._contexts.get(partition)
            namespace = context.fully_qualified_namespace if context else self._namespace()
            try:
                self._store.update_checkpoint(
                    {
                        "fully_qualified_namespace": namespace,
                        "eventhub_name": self.hub,
                        "consumer_group": self.group,
                        "partition_id": str(partition),
                        "offset": item.offset,
                        "sequence_number": item.sequence,
                    }
                )
            except _SDK_ERRORS as exc:
                raise BusError(f"checkpoint on {self.hub}/{self.group} failed: {exc}") from exc

    def dead_letter(self, delivered: Delivered, reason: str) -> None:
        self._check_open()
        self._bus.record_dead_letter(self.hub, self.group, delivered, reason)

    def lag(self) -> list[PartitionLag]:
        self._check_open()
        checkpoints = dict(self._memory_checkpoints)
        if self._store is not None:
            try:
                for entry in self._store.list_checkpoints(self._namespace(), self.hub, self.group):
                    partition = int(entry["partition_id"])
                    checkpoints[partition] = max(
                        checkpoints.get(partition, -1), int(entry["sequence_number"])
                    )
            except _SDK_ERRORS as exc:
                raise BusError(f"reading checkpoints of {self.hub}/{self.group} failed: {exc}") from exc
        now = datetime.now(UTC)
        out = []
        for props in self._bus.partition_properties(self.hub):
            partition = int(props["id"])
            if props["is_empty"]:
                out.append(PartitionLag(self.hub, self.group, partition, 0, 0.0))
                continue
            last = int(props["last_enqueued_sequence_number"])
            begin = int(props["beginning_sequence_number"])
            done = max(checkpoints.get(partition, begin - 1), begin - 1)
            behind = max(0, last - done)
            seconds = 0.0
            if behind:
                flight = self._in_flight.get(partition)
                oldest = flight[0].enqueued_at if flight else props["last_enqueued_time_utc"]
                seconds = max(0.0, (now - oldest).total_seconds())
            out.append(PartitionLag(self.hub, self.group, partition, behind, seconds))
        return out

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._client.close()
        self._thread.join(10)

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise BusError(f"consumer of {self.hub}/{self.group} is closed")

    def _namespace(self) -> str:
        if self._contexts:
            return next(iter(self._contexts.values())).fully_qualified_namespace
        address = getattr(self._client, "_address", None)
        return str(getattr(address, "hostname", self._bus.config.namespace_label))
