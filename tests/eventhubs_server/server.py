"""An in-process Event Hubs stand-in on python-qpid-proton, for tests only.

It answers what the azure-eventhub client needs: a ``$cbs`` put-token (any token is
accepted), ``$management`` READ of hub and partition properties, sends to a hub (partition
from the link target ``<hub>/Partitions/<n>``, else from the partition key) including the
client's batch format, and receivers on ``<hub>/ConsumerGroups/<g>/Partitions/<n>`` that
start from the ``x-opt-offset`` / ``x-opt-sequence-number`` / ``x-opt-enqueued-time``
selector filter. Offsets are the sequence numbers as strings. Retention is enforced
against a clock the test can move forward (:meth:`EventHubsTestServer.advance`).

It is not a broker: one process, memory only, no TLS, no authorisation.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proton import Data, Delivery, Described, Endpoint, Link, Message, symbol, timestamp
from proton.handlers import MessagingHandler
from proton.reactor import Container

# Clients that drop connections without closing (SIGKILL tests, SDK shutdown) make proton log
# broken pipes from the server thread, sometimes after pytest closed its capture streams.
logging.getLogger("proton").setLevel(logging.CRITICAL)

_SELECTOR = re.compile(r"amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'")
_DATA_SECTION = 0x75
_MESSAGE_ANNOTATIONS = 0x72
_APPLICATION_PROPERTIES = 0x74
_PROPERTIES = 0x73


@dataclass
class StoredEvent:
    sequence: int
    enqueued_ms: int
    body: bytes
    partition_key: str | None
    application_properties: dict[Any, Any] | None


@dataclass
class Partition:
    events: list[StoredEvent] = field(default_factory=list)
    next_sequence: int = 0

    @property
    def begin(self) -> int:
        return self.events[0].sequence if self.events else self.next_sequence

    def after(self, sequence: int) -> int:
        """Index of the first stored event with a sequence greater than ``sequence``."""
        lo, hi = 0, len(self.events)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.events[mid].sequence <= sequence:
                lo = mid + 1
            else:
                hi = mid
        return lo


@dataclass
class Hub:
    name: str
    partitions: list[Partition]
    retention_ms: int
    created_ms: int


@dataclass
class Reader:
    hub: Hub
    partition: int
    after_sequence: int


def _sections(raw: bytes) -> list[tuple[int, Any]]:
    """Decode an encoded message into ``(descriptor, value)`` sections."""
    out = []
    position = 0
    while position < len(raw):
        data = Data()
        used = data.decode(raw[position:])
        if used <= 0:
            break
        position += used
        data.rewind()
        data.next()
        value = data.get_object()
        if isinstance(value, Described):
            inner = value.value
            # proton hands out views into its own buffer: copy before ``data`` is freed.
            out.append((int(value.descriptor), bytes(inner) if isinstance(inner, memoryview) else inner))
    return out


def _event_from_sections(sections: list[tuple[int, Any]]) -> tuple[bytes, str | None, dict[Any, Any] | None]:
    body = b"".join(bytes(value) for code, value in sections if code == _DATA_SECTION)
    annotations = next((value for code, value in sections if code == _MESSAGE_ANNOTATIONS), None) or {}
    key = annotations.get(symbol("x-opt-partition-key"))
    props = next((value for code, value in sections if code == _APPLICATION_PROPERTIES), None)
    return body, None if key is None else str(key), props


def _is_encoded_message(section: bytes) -> bool:
    return len(section) >= 3 and section[0] == 0x00 and section[1] == 0x53 and 0x70 <= section[2] <= 0x78


class _Handler(MessagingHandler):  # type: ignore[misc]
    def __init__(self, server: EventHubsTestServer) -> None:
        super().__init__(prefetch=100, auto_accept=False, auto_settle=True)
        self.server = server
        self.readers: dict[Link, Reader] = {}

    # --- lifecycle ------------------------------------------------------------------------
    def on_start(self, event: Any) -> None:
        self.acceptor = event.container.listen(f"127.0.0.1:{self.server.port}")
        self.server.ready.set()
        event.container.schedule(0.02, self)

    def on_timer_task(self, event: Any) -> None:
        while True:
            try:
                command = self.server.commands.get_nowait()
            except queue.Empty:
                break
            if command is None:
                self.acceptor.close()
                for conn in list(self.server.connections):
                    conn.close()
                event.container.stop()
                return
            command()
        self.server.enforce_retention()
        event.container.schedule(0.02, self)

    def on_connection_opening(self, event: Any) -> None:
        self.server.connections.add(event.connection)

    def on_connection_closed(self, event: Any) -> None:
        self.server.connections.discard(event.connection)
        self._forget(event.connection)

    def on_disconnected(self, event: Any) -> None:
        if event.connection is not None:
            self.server.connections.discard(event.connection)
            self._forget(event.connection)

    def _forget(self, connection: Any) -> None:
        for link in [link for link in self.readers if link.connection == connection]:
            del self.readers[link]

    # --- links ----------------------------------------------------------------------------
    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_sender:
            address = link.remote_source.address or ""
            link.source.address = address
            link.target.address = link.remote_target.address
            path = self.server.path(address)
            parts = path.split("/")
            if len(parts) == 5 and parts[1].lower() == "consumergroups" and parts[3].lower() == "partitions":
                hub = self.server.hubs.get(parts[0])
                if hub is None or not parts[4].isdigit() or int(parts[4]) >= len(hub.partitions):
                    link.close()
                    return
                start = self._start_sequence(link, hub.partitions[int(parts[4])])
                self.readers[link] = Reader(hub, int(parts[4]), start)
        else:
            link.target.address = link.remote_target.address
            link.source.address = link.remote_source.address
        link.open()

    def _start_sequence(self, link: Link, partition: Partition) -> int:
        raw_filter = link.remote_source.filter
        raw_filter.rewind()
        raw_filter.next()
        filters = raw_filter.get_object() or {}
        for value in filters.values():
            expression = value.value if isinstance(value, Described) else value
            match = _SELECTOR.search(str(expression))
            if match is None:
                continue
            kind, operator, raw = match.groups()
            inclusive = operator == ">="
            if raw == "@latest":
                return partition.next_sequence - 1
            number = int(raw)
            if kind == "enqueued-time":
                first = next(
                    (
                        e.sequence
                        for e in partition.events
                        if e.enqueued_ms >= number + (0 if inclusive else 1)
                    ),
                    None,
                )
                return (partition.next_sequence if first is None else first) - 1
            if number < 0:
                return partition.begin - 1
            return number - 1 if inclusive else number
        return partition.begin - 1

    def on_link_closing(self, event: Any) -> None:
        self.readers.pop(event.link, None)

    def on_sendable(self, event: Any) -> None:
        if event.link in self.readers:
            self.pump(event.link)

    def pump(self, link: Link) -> None:
        reader = self.readers.get(link)
        if reader is None or link.state & Endpoint.LOCAL_CLOSED:
            return
        partition = reader.hub.partitions[reader.partition]
        index = partition.after(reader.after_sequence)
        while link.credit > 0 and index < len(partition.events):
            stored = partition.events[index]
            message = Message(body=stored.body, inferred=True)
            message.annotations = {
                symbol("x-opt-sequence-number"): stored.sequence,
                symbol("x-opt-offset"): str(stored.sequence),
                symbol("x-opt-enqueued-time"): timestamp(stored.enqueued_ms),
            }
            if stored.partition_key is not None:
                message.annotations[symbol("x-opt-partition-key")] = stored.partition_key
            if stored.application_properties:
                message.properties = stored.application_properties
            link.send(message)
            reader.after_sequence = stored.sequence
            index += 1

    # --- incoming -------------------------------------------------------------------------
    def on_delivery(self, event: Any) -> None:
        delivery, link = event.delivery, event.link
        if not link.is_receiver:
            return
        if not delivery.readable or delivery.partial:
            return
        raw = link.recv(delivery.pending)
        link.advance()
        address = link.target.address or link.remote_target.address or ""
        try:
            outcome = self.server.handle_incoming(self, link, address, raw)
        except Exception as exc:  # answered as a rejected delivery, as a service would
            self.server.errors.append(repr(exc))
            outcome = Delivery.REJECTED
        delivery.update(outcome)
        delivery.settle()
        if link.credit < 50:
            link.flow(100)

    def reply(self, link: Link, source_address: str, message: Message) -> None:
        mask = Endpoint.LOCAL_ACTIVE | Endpoint.REMOTE_ACTIVE
        candidate = link.connection.link_head(mask)
        while candidate is not None:
            if candidate.is_sender and (candidate.source.address or "") == source_address:
                candidate.send(message)
                return
            candidate = candidate.next(mask)


class EventHubsTestServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``hubs`` maps hub name to partitions."""

    def __init__(self, hubs: dict[str, tuple[int, int]], port: int) -> None:
        now = self.now_ms()
        self.port = port
        self.hubs = {
            name: Hub(name, [Partition() for _ in range(partitions)], retention_h * 3_600_000, now)
            for name, (partitions, retention_h) in hubs.items()
        }
        self.ready = threading.Event()
        self.commands: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.connections: set[Any] = set()
        self.errors: list[str] = []
        self.clock_offset_ms = 0
        self._handler = _Handler(self)
        self._container = Container(self._handler)
        self._container.container_id = f"eh-test-{uuid.uuid4().hex[:6]}"
        self._thread = threading.Thread(target=self._container.run, name="eventhubs-test-server", daemon=True)

    @property
    def fqdn(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connection_string(self, hub: str | None = None) -> str:
        text = f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=test;SharedAccessKey=dGVzdA==;UseDevelopmentEmulator=true"
        return f"{text};EntityPath={hub}" if hub else text

    def start(self) -> EventHubsTestServer:
        self._thread.start()
        if not self.ready.wait(10):
            raise TimeoutError("Event Hubs test server did not start")
        return self

    def stop(self) -> None:
        self.commands.put(None)
        self._thread.join(10)

    def advance(self, seconds: float) -> None:
        """Move the server clock forward (retention then drops expired events)."""
        done = threading.Event()

        def move() -> None:
            self.clock_offset_ms += int(seconds * 1000)
            self.enforce_retention()
            done.set()

        self.commands.put(move)
        done.wait(10)

    def now_ms(self) -> int:
        return int(time.time() * 1000) + getattr(self, "clock_offset_ms", 0)

    def path(self, address: str) -> str:
        text = re.sub(r"^amqps?://[^/]+/", "", address)
        return re.sub(r"^sb://[^/]+/", "", text).strip("/")

    def enforce_retention(self) -> None:
        now = self.now_ms()
        for hub in self.hubs.values():
            for partition in hub.partitions:
                cutoff = now - hub.retention_ms
                keep = 0
                while keep < len(partition.events) and partition.events[keep].enqueued_ms < cutoff:
                    keep += 1
                if keep:
                    del partition.events[:keep]

    # --- request handling (reactor thread) ----------------------------------------------------
    def handle_incoming(self, handler: _Handler, link: Link, address: str, raw: bytes) -> Any:
        path = self.path(address)
        if path == "$cbs":
            return self._answer(handler, link, "$cbs", raw, self._cbs)
        if path == "$management":
            return self._answer(handler, link, "$management", raw, self._management)
        parts = path.split("/")
        hub = self.hubs.get(parts[0])
        if hub is None:
            return Delivery.REJECTED
        partition_index: int | None = None
        if len(parts) == 3 and parts[1].lower() == "partitions":
            partition_index = int(parts[2])
        sections = _sections(raw)
        data = [bytes(value) for code, value in sections if code == _DATA_SECTION]
        if data and all(_is_encoded_message(d) for d in data):
            events = [_event_from_sections(_sections(d)) for d in data]
        else:
            events = [_event_from_sections(sections)]
        for body, key, props in events:
            if partition_index is not None:
                index = partition_index
            else:
                outer_key = _event_from_sections(sections)[1]
                chosen = key or outer_key
                index = zlib.crc32(chosen.encode()) % len(hub.partitions) if chosen else 0
            self._append(handler, hub, index, body, key, props)
        return Delivery.ACCEPTED

    def _append(
        self,
        handler: _Handler,
        hub: Hub,
        index: int,
        body: bytes,
        key: str | None,
        props: dict[Any, Any] | None,
    ) -> None:
        partition = hub.partitions[index]
        partition.events.append(StoredEvent(partition.next_sequence, self.now_ms(), body, key, props))
        partition.next_sequence += 1
        for link, reader in list(handler.readers.items()):
            if reader.hub is hub and reader.partition == index:
                handler.pump(link)

    def _answer(
        self,
        handler: _Handler,
        link: Link,
        node: str,
        raw: bytes,
        respond: Callable[[dict[Any, Any], Any], tuple[int, str, Any]],
    ) -> Any:
        request = Message()
        request.decode(raw)
        status, description, body = respond(request.properties or {}, request.body)
        response = Message(body=body)
        response.correlation_id = request.id
        response.address = request.reply_to
        response.properties = {"status-code": status, "status-description": description}
        handler.reply(link, node, response)
        return Delivery.ACCEPTED

    def _cbs(self, properties: dict[Any, Any], body: Any) -> tuple[int, str, Any]:
        return 202, "Accepted", None

    def _management(self, properties: dict[Any, Any], body: Any) -> tuple[int, str, Any]:
        hub = self.hubs.get(str(properties.get("name")))
        if hub is None:
            return 404, "The messaging entity could not be found.", None
        kind = str(properties.get("type"))
        if kind == "com.microsoft:eventhub":
            return (
                200,
                "OK",
                {
                    "name": hub.name,
                    "created_at": timestamp(hub.created_ms),
                    "partition_count": len(hub.partitions),
                    "partition_ids": [str(i) for i in range(len(hub.partitions))],
                },
            )
        if kind == "com.microsoft:partition":
            index = int(str(properties.get("partition")))
            partition = hub.partitions[index]
            last = partition.events[-1] if partition.events else None
            return (
                200,
                "OK",
                {
                    "name": hub.name,
                    "partition": str(index),
                    "begin_sequence_number": partition.begin,
                    "last_enqueued_sequence_number": last.sequence if last else -1,
                    "last_enqueued_offset": str(last.sequence) if last else "-1",
                    "last_enqueued_time_utc": timestamp(last.enqueued_ms if last else 0),
                    "is_partition_empty": last is None,
                },
            )
        return 400, f"unknown management type {kind}", None
