"""Redis Streams implementation of the bus.

Each hub partition is a stream; each consumer group is a Redis consumer group on every
partition stream of the hub. Within a group one member owns a partition at a time (a lease
key ``SET NX PX``), and reads it under the fixed Redis consumer name ``owner`` (the same
for every member): the pending entries list of that name in a partition's stream is the
partition's delivered-but-unchecked events, so a member taking a partition over (after a
crash) first re-reads them, then new events. One ``XREADGROUP ... BLOCK`` covers all the
partitions a member owns, so an idle consumer wakes as soon as an event is appended.
``checkpoint`` is ``XACK``. Retention trims streams by ``MINID`` (stream ids are times).
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from redis.exceptions import RedisError, ResponseError

from app.bus.capabilities import Capability
from app.bus.decoding import delivered as make_delivered
from app.bus.decoding import delivered_batch
from app.bus.envelope import Envelope
from app.bus.membership import fair_share, new_member_name, process_alive
from app.bus.partitioning import partition_for
from app.bus.ports import DeadLetter, Delivered, PartitionLag, PublishReceipt
from app.bus.redis.config import RedisBusConfig
from app.bus.topology import HubSpec
from app.errors import BusError

__all__ = ["RedisBus", "RedisConsumer"]

log = logging.getLogger("app.bus.redis")

Clock = Callable[[], float]

READER = "owner"
"""The Redis consumer name every member reads under (ownership is the lease, not the name)."""

_RENEW_IF_MINE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] "
    "then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_DELETE_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _id_parts(stream_id: bytes | str) -> tuple[int, int]:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _sequence(stream_id: bytes | str) -> int:
    ms, seq = _id_parts(stream_id)
    return (ms << 20) | seq


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def _as_sent(response: Any, **_options: Any) -> Any:
    return response


def _stream_replies(reply: Any) -> list[tuple[Any, Any]]:
    """``(stream name, entries)`` pairs of a raw XREADGROUP reply (``None`` on a timed-out block).

    Each entry is ``[id, [field, value, ...]]`` (fields ``None`` for a pending entry that was
    trimmed away since)."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3: {stream: entries}
        return [(name, entries or []) for name, entries in reply.items()]
    return [(name, entries or []) for name, entries in reply]  # RESP2: [[stream, entries], ...]


def _missing_group(exc: ResponseError) -> bool:
    """Redis answers ``NOGROUP`` when the stream or the consumer group does not exist."""
    return "NOGROUP" in str(exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _body(fields: list[bytes] | None) -> bytes:
    """The ``e`` field of an entry (entries written by ai-trader have only that one)."""
    if fields and fields[0] == b"e":
        return fields[1]
    pairs = dict(zip(fields[::2], fields[1::2], strict=True)) if fields else {}
    return pairs.get(b"e", b"")


class RedisBus:
    """Bus on Redis Streams; thread-safe (redis-py pools connections)."""

    kind = "redis"
    capabilities = frozenset(
        {
            Capability.OFFSETS_ON_PUBLISH,
            Capability.LOCAL_RETENTION,
            Capability.PEEK,
            Capability.PARTITION_OWNERSHIP,
        }
    )

    def __init__(self, config: RedisBusConfig, hubs: Sequence[HubSpec], clock: Clock = time.time) -> None:
        self.config = config
        self._hubs = {spec.name: spec for spec in hubs}
        self._clock = clock
        self._next_trim: dict[str, float] = {}
        self._persistence_checked = False
        self._persistence: bool | None = None
        self.redis: redis.Redis = redis.Redis.from_url(
            config.url, socket_timeout=config.socket_timeout_s, socket_connect_timeout=config.socket_timeout_s
        )
        # Consumers read through a second client on the same connection pool that hands back
        # XREADGROUP replies as Redis sends them: redis-py's default reply callback builds a
        # field dict per entry, which costs more than the whole envelope decode.
        self.streams: redis.Redis = redis.Redis(connection_pool=self.redis.connection_pool)
        self.streams.set_response_callback("XREADGROUP", _as_sent)

    def stream(self, hub: str, partition: int) -> str:
        return f"{self.config.key_prefix}{hub}:{partition}"

    # --- Bus protocol -------------------------------------------------------------------
    def publish(self, hub: str, events: Sequence[Envelope]) -> list[PublishReceipt]:
        return self._append(hub, [(e.partition_key, e.to_bytes(), e.event_id) for e in events])

    def publish_raw(self, hub: str, partition_key: str, body: bytes) -> PublishReceipt:
        """Append bytes that need not be an envelope (what a foreign or broken producer sends)."""
        return self._append(hub, [(partition_key, body, "")])[0]

    def consumer(self, hub: str, group: str) -> RedisConsumer:
        spec = self.hub(hub)
        if group not in spec.consumer_groups and group != "$Default":
            raise BusError(
                f"unknown consumer group {group!r} on {hub}; groups: {', '.join(spec.consumer_groups)}"
            )
        self.create_groups(spec, [group])
        self.check_persistence()
        return RedisConsumer(self, spec, group)

    def check_persistence(self) -> bool | None:
        """Warn when Redis runs without AOF; True/False for on/off, None when unknown.

        Without an append-only file a Redis restart empties every stream and consumer group:
        events not yet consumed are lost, and consumers start again from whatever is
        published after the restart. Managed Redis often disables ``CONFIG``: then this only
        says it cannot tell.
        """
        if self._persistence_checked:
            return self._persistence
        self._persistence_checked = True
        try:
            reply: Any = self.redis.config_get("appendonly")
        except RedisError as exc:
            log.info("cannot check whether Redis keeps an append-only file (%s); the bus needs AOF", exc)
            return None
        value = reply.get("appendonly") if isinstance(reply, dict) else None
        if value is None:
            log.info("Redis does not report appendonly; the bus needs AOF (appendonly yes)")
            return None
        self._persistence = str(value).lower() == "yes"
        if not self._persistence:
            log.warning(
                "REDIS PERSISTENCE IS OFF (appendonly no) at %s: a Redis restart loses every event "
                "not yet consumed and every consumer group. Run Redis with appendonly yes for the bus "
                "(see docs/bus.md).",
                self.config.display_url,
            )
        return self._persistence

    def dead_letters(self, hub: str, group: str, limit: int = 100) -> list[DeadLetter]:
        self.hub(hub)
        try:
            rows: Any = self.redis.xrevrange(self._dead_letter_key(hub, group), count=limit)
        except RedisError as exc:
            raise BusError(f"reading dead letters of {hub}/{group} failed: {exc}") from exc
        ids = [_text(stream_id) for stream_id, _ in rows]
        try:
            marks: list[Any] = self.redis.hmget(self._replayed_key(hub, group), ids) if ids else []
        except RedisError as exc:
            raise BusError(f"reading dead letters of {hub}/{group} failed: {exc}") from exc
        return [
            DeadLetter(
                hub,
                group,
                int(fields[b"partition"]),
                fields[b"offset"].decode(),
                fields[b"reason"].decode(),
                fields[b"raw"],
                _utc_ms(_id_parts(stream_id)[0]),
                letter_id,
                _utc_ms(int(mark)) if mark is not None else None,
            )
            for (stream_id, fields), letter_id, mark in zip(rows, ids, marks, strict=True)
        ]

    def mark_replayed(self, hub: str, group: str, ids: Sequence[str]) -> None:
        self.hub(hub)
        if not ids:
            return
        now_ms = str(int(self._clock() * 1000))
        try:
            self.redis.hset(self._replayed_key(hub, group), mapping=dict.fromkeys(ids, now_ms))
        except RedisError as exc:
            raise BusError(f"marking dead letters of {hub}/{group} replayed failed: {exc}") from exc

    def _replayed_key(self, hub: str, group: str) -> str:
        return f"{self.config.key_prefix}deadletters-replayed:{hub}:{group}"

    def provision(self) -> list[str]:
        lines = [f"redis {self.config.display_url}: streams {self.config.key_prefix}<hub>:<partition>"]
        for spec in self._hubs.values():
            self.create_groups(spec, list(spec.consumer_groups))
            lines.append(
                f"hub {spec.name}: {spec.partitions} streams, "
                f"{spec.retention_hours} h retention (MINID trim), "
                f"groups {', '.join(spec.consumer_groups)}"
            )
        return lines

    def ping(self) -> None:
        try:
            self.redis.ping()
        except RedisError as exc:
            raise BusError(f"redis bus at {self.config.display_url} does not answer: {exc}") from exc

    def close(self) -> None:
        self.redis.close()

    # --- administration -----------------------------------------------------------------
    def hub(self, name: str) -> HubSpec:
        """The spec of a configured hub; raises ``BusError`` for an unknown name."""
        try:
            return self._hubs[name]
        except KeyError:
            known = ", ".join(sorted(self._hubs))
            raise BusError(f"unknown hub {name!r}; configured hubs: {known}") from None

    def apply_retention(self, now: float | None = None) -> int:
        """Trim every stream exactly to its hub's retention; return how many entries went."""
        now = self._clock() if now is None else now
        try:
            return sum(self._trim(spec, now, approximate=False) for spec in self._hubs.values())
        except RedisError as exc:
            raise BusError(f"retention trim failed: {exc}") from exc

    def _trim(self, spec: HubSpec, now: float, *, approximate: bool) -> int:
        cutoff = max(0, int((now - spec.retention_hours * 3600.0) * 1000))
        pipe = self.redis.pipeline(transaction=False)
        for partition in range(spec.partitions):
            pipe.xtrim(self.stream(spec.name, partition), minid=cutoff, approximate=approximate)
        return sum(int(n) for n in pipe.execute())

    def peek(self, hub: str, limit: int = 10) -> list[Delivered]:
        """The newest ``limit`` events of ``hub`` across partitions, oldest first."""
        spec = self.hub(hub)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for partition in range(spec.partitions):
                pipe.xrevrange(self.stream(hub, partition), count=limit)
            per_partition = pipe.execute()
        except RedisError as exc:
            raise BusError(f"peek on {hub} failed: {exc}") from exc
        rows = [
            (_id_parts(stream_id), partition, stream_id, fields)
            for partition, entries in enumerate(per_partition)
            for stream_id, fields in entries
        ]
        rows.sort(key=lambda row: (row[0], row[1]))
        return [
            self.to_delivered(hub, p, sid.decode(), fields.get(b"e", b""))
            for _, p, sid, fields in rows[-limit:]
        ]

    def now(self) -> float:
        return self._clock()

    # --- internals ----------------------------------------------------------------------
    def _append(self, hub: str, items: Sequence[tuple[str, bytes, str]]) -> list[PublishReceipt]:
        spec = self.hub(hub)
        if not items:
            return []
        partitions = [partition_for(key, spec.partitions) for key, _, _ in items]
        streams = [self.stream(hub, p) for p in range(spec.partitions)]
        ids: list[bytes] = []
        chunk = self.config.pipeline_chunk
        trim = time.monotonic() >= self._next_trim.get(hub, 0.0)
        try:
            for start in range(0, len(items), chunk):
                pipe = self.redis.pipeline(transaction=False)
                for (_, body, _), partition in zip(
                    items[start : start + chunk], partitions[start : start + chunk], strict=True
                ):
                    pipe.execute_command("XADD", streams[partition], "*", "e", body)  # type: ignore[no-untyped-call]
                ids.extend(pipe.execute())
            if trim:
                self._next_trim[hub] = time.monotonic() + self.config.retention_check_s
                self._trim(spec, self._clock(), approximate=True)
        except RedisError as exc:
            raise BusError(f"publish to {hub} failed after {len(ids)} of {len(items)} events: {exc}") from exc
        return [
            PublishReceipt(hub, partition, stream_id.decode(), event_id)
            for (_, _, event_id), partition, stream_id in zip(items, partitions, ids, strict=True)
        ]

    def create_groups(self, spec: HubSpec, groups: list[str]) -> None:
        try:
            for group in groups:
                for partition in range(spec.partitions):
                    try:
                        self.redis.xgroup_create(
                            self.stream(spec.name, partition), group, id="0", mkstream=True
                        )
                    except ResponseError as exc:
                        if "BUSYGROUP" not in str(exc):
                            raise
        except RedisError as exc:
            raise BusError(f"creating consumer groups on {spec.name} failed: {exc}") from exc

    def _dead_letter_key(self, hub: str, group: str) -> str:
        return f"{self.config.key_prefix}deadletters:{hub}:{group}"

    def to_delivered(self, hub: str, partition: int, offset: str, body: bytes) -> Delivered:
        """Decode one stream entry on its own (a bad body becomes a ``Delivered`` with an error)."""
        ms, seq = _id_parts(offset)
        return make_delivered(hub, partition, offset, (ms << 20) | seq, _utc_ms(ms), body)


class RedisConsumer:
    """Reads the partitions of one hub this member owns within its group."""

    def __init__(self, bus: RedisBus, spec: HubSpec, group: str) -> None:
        self._bus = bus
        self._redis = bus.redis
        self._spec = spec
        self.hub = spec.name
        self.group = group
        self.member = new_member_name()
        self._renew = self._redis.register_script(_RENEW_IF_MINE)
        self._delete_if = self._redis.register_script(_DELETE_IF)
        self._cursors: dict[int, bytes | str] = {}
        self._unacked: dict[int, list[bytes]] = {}  # delivered, not yet acked, in order
        self._next_balance = 0.0
        self._rotation = 0
        self._closed = False

    @property
    def partitions(self) -> list[int]:
        """Partitions this consumer currently reads."""
        return sorted(self._cursors)

    def poll(self, max_events: int = 500, timeout_s: float = 1.0) -> list[Delivered]:
        self._check_open()
        if max_events < 1:
            raise BusError("max_events must be at least 1")
        deadline = time.monotonic() + timeout_s
        # a blocked read must end well before the socket timeout would break it
        longest_block_s = max(0.001, self._bus.config.socket_timeout_s / 2)
        try:
            while True:
                now = time.monotonic()
                if now >= self._next_balance:
                    self._balance()
                    now = time.monotonic()
                wait_s = min(deadline, self._next_balance) - now
                if not self._cursors:  # nothing owned yet: wait for the next rebalance
                    if deadline - now <= 0:
                        return []
                    time.sleep(max(0.0, min(wait_s, 0.05)))
                    continue
                block_ms = int(min(wait_s, longest_block_s) * 1000)
                try:
                    batch = self._read(max_events, block_ms if block_ms >= 1 else None)
                except ResponseError as exc:
                    if not _missing_group(exc):
                        raise
                    self._recreate_group()
                    continue
                if batch or time.monotonic() >= deadline:
                    return batch
        except RedisError as exc:
            raise BusError(f"poll on {self.hub}/{self.group} failed: {exc}") from exc

    def checkpoint(self, delivered: Sequence[Delivered]) -> None:
        self._check_open()
        by_partition: dict[int, list[Delivered]] = {}
        for item in delivered:
            if item.hub != self.hub:
                raise BusError(f"cannot checkpoint an event of {item.hub} on a consumer of {self.hub}")
            by_partition.setdefault(item.partition, []).append(item)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for partition, items in by_partition.items():
                upto = max(item.sequence for item in items)
                pending = self._unacked.get(partition, [])
                split = bisect.bisect_right(pending, upto, key=_sequence)
                self._unacked[partition] = pending[split:]
                ids = pending[:split]
                # Events this consumer did not deliver itself (e.g. handed over) are acked by id.
                covered = set(ids)
                own = (item.offset.encode() for item in items)
                ids += [offset for offset in own if offset not in covered]
                for start in range(0, len(ids), self._bus.config.pipeline_chunk):
                    chunk = ids[start : start + self._bus.config.pipeline_chunk]
                    pipe.xack(self._bus.stream(self.hub, partition), self.group, *chunk)
            pipe.execute()
        except ResponseError as exc:
            if not _missing_group(exc):
                raise BusError(f"checkpoint on {self.hub}/{self.group} failed: {exc}") from exc
            # The group went with a Redis restart: there is nothing left to acknowledge.
            self._recreate_group()
        except RedisError as exc:
            raise BusError(f"checkpoint on {self.hub}/{self.group} failed: {exc}") from exc

    def dead_letter(self, delivered: Delivered, reason: str) -> None:
        self._check_open()
        try:
            self._redis.xadd(
                self._bus._dead_letter_key(self.hub, self.group),
                {
                    b"partition": str(delivered.partition),
                    b"offset": delivered.offset,
                    b"reason": reason,
                    b"raw": delivered.raw,
                },
            )
        except RedisError as exc:
            raise BusError(f"dead-letter on {self.hub}/{self.group} failed: {exc}") from exc

    def lag(self) -> list[PartitionLag]:
        self._check_open()
        now = self._bus.now()
        out = []
        try:
            for partition in range(self._spec.partitions):
                stream = self._bus.stream(self.hub, partition)
                info = next(
                    (
                        g
                        for g in self._redis.xinfo_groups(stream)
                        if g["name"] in (self.group, self.group.encode())
                    ),
                    None,
                )
                if info is None:
                    out.append(PartitionLag(self.hub, self.group, partition, 0, 0.0))
                    continue
                pending = int(info.get("pending") or 0)
                undelivered = info.get("lag")
                if undelivered is None:
                    rest: Any = self._redis.xrange(stream, f"({info['last-delivered-id'].decode()}", "+")
                    undelivered = len(rest)
                oldest_ms: int | None = None
                if pending:
                    # A peer may acknowledge between XINFO and XPENDING: then nothing is pending.
                    summary = self._redis.xpending(stream, self.group)
                    pending = int(summary.get("pending") or 0) if summary.get("min") is not None else 0
                    if pending:
                        oldest_ms = _id_parts(summary["min"])[0]
                behind = pending + int(undelivered)
                if oldest_ms is None and undelivered:
                    nxt: Any = self._redis.xrange(
                        stream, f"({info['last-delivered-id'].decode()}", "+", count=1
                    )
                    oldest_ms = _id_parts(nxt[0][0])[0] if nxt else None
                seconds = max(0.0, now - oldest_ms / 1000.0) if oldest_ms is not None else 0.0
                out.append(PartitionLag(self.hub, self.group, partition, behind, seconds))
        except RedisError as exc:
            raise BusError(f"lag of {self.hub}/{self.group} failed: {exc}") from exc
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for partition in list(self._cursors):
                self._delete_if(keys=[self._lease_key(partition)], args=[self.member])
            self._redis.zrem(self._members_key(), self.member)
        except RedisError as exc:
            raise BusError(f"closing consumer of {self.hub}/{self.group} failed: {exc}") from exc
        finally:
            self._cursors.clear()

    # --- internals ----------------------------------------------------------------------
    def _recreate_group(self) -> None:
        """Create the group again after Redis lost it (restarted without persistence)."""
        log.error(
            "consumer group %s of %s is gone from Redis (restarted without persistence?): "
            "recreated it at the start of each partition stream; resuming from the oldest event "
            "Redis still holds. Events published before the restart that were not consumed, and "
            "any published while Redis was empty before the group existed again, may be lost "
            "unless Redis runs with appendonly yes.",
            self.group,
            self.hub,
            extra={"hub": self.hub, "group": self.group, "partitions": self.partitions},
        )
        self._bus.create_groups(self._spec, [self.group])
        self._cursors = dict.fromkeys(self._cursors, "0")
        self._unacked = {}

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"consumer of {self.hub}/{self.group} is closed")

    def _lease_key(self, partition: int) -> str:
        return f"{self._bus.config.key_prefix}lease:{self.hub}:{self.group}:{partition}"

    def _members_key(self) -> str:
        return f"{self._bus.config.key_prefix}members:{self.hub}:{self.group}"

    def _read(self, max_events: int, block_ms: int | None = None) -> list[Delivered]:
        """One XREADGROUP over every owned partition; blocks up to ``block_ms`` when all are
        at their tail (a partition still re-reading its pending entries answers at once)."""
        owned = sorted(self._cursors)
        if not owned:
            return []
        start = self._rotation % len(owned)
        self._rotation += 1
        order = [owned[(start + i) % len(owned)] for i in range(len(owned))][:max_events]
        per_partition = max(1, max_events // len(order))
        streams = {self._bus.stream(self.hub, partition): partition for partition in order}
        command: list[Any] = ["XREADGROUP", "GROUP", self.group, READER, "COUNT", per_partition]
        if block_ms is not None and all(self._cursors[p] == ">" for p in order):
            command += ["BLOCK", block_ms]
        command += ["STREAMS", *streams, *(self._cursors[p] for p in order)]
        reply = self._bus.streams.execute_command(*command)  # type: ignore[no-untyped-call]
        by_partition = {streams[_text(name)]: list(entries) for name, entries in _stream_replies(reply)}
        ids: list[bytes] = []
        partitions: list[int] = []
        bodies: list[bytes] = []
        stale: dict[int, list[bytes]] = {}
        for partition in order:
            entries = by_partition.get(partition, [])
            if self._cursors[partition] != ">":
                entries = self._pending_entries(partition, entries, stale)
            if not entries:
                continue
            self._unacked.setdefault(partition, []).extend(stream_id for stream_id, _ in entries)
            ids += [stream_id for stream_id, _ in entries]
            partitions += [partition] * len(entries)
            bodies += [_body(fields) for _, fields in entries]
        batch = self._delivered(ids, partitions, bodies)
        if stale:
            pipe = self._redis.pipeline(transaction=False)
            for partition, stale_ids in stale.items():
                pipe.xack(self._bus.stream(self.hub, partition), self.group, *stale_ids)
            pipe.execute()
        return batch

    def _pending_entries(
        self, partition: int, entries: list[Any], stale: dict[int, list[bytes]]
    ) -> list[Any]:
        """Re-read delivered-but-unchecked events; entries trimmed since come back empty."""
        if not entries:
            self._cursors[partition] = ">"
            return []
        self._cursors[partition] = entries[-1][0]
        live = []
        for stream_id, fields in entries:
            if fields:
                live.append((stream_id, fields))
            else:
                stale.setdefault(partition, []).append(stream_id)
        return live

    def _delivered(self, ids: list[bytes], partitions: list[int], bodies: list[bytes]) -> list[Delivered]:
        """One :class:`Delivered` per entry (envelopes decoded in one call by ``delivered_batch``)."""
        rows: list[tuple[int, str, int, datetime, bytes]] = []
        last_ms, enqueued_at = -1, _EPOCH
        for partition, stream_id, body in zip(partitions, ids, bodies, strict=True):
            offset = stream_id.decode()
            ms_text, _, seq_text = offset.partition("-")
            ms = int(ms_text)
            if ms != last_ms:  # a burst of XADDs shares one millisecond; build its time once
                last_ms, enqueued_at = ms, _utc_ms(ms)
            rows.append((partition, offset, (ms << 20) | int(seq_text), enqueued_at, body))
        return delivered_batch(self.hub, rows)

    def _balance(self) -> None:
        """Renew this member, count live members, and hold a fair share of the partitions."""
        lease_s = self._bus.config.lease_s
        lease_ms = int(lease_s * 1000)
        now_ms = int(time.time() * 1000)
        members_key = self._members_key()
        partitions = range(self._spec.partitions)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(members_key, {self.member: now_ms + lease_ms})
        pipe.zrange(members_key, 0, -1, withscores=True)
        pipe.mget([self._lease_key(p) for p in partitions])
        _, members, leases = pipe.execute()
        live = {self.member}
        for raw_member, score in members:
            member = raw_member.decode()
            if member == self.member:
                continue
            if score > now_ms and process_alive(member):
                live.add(member)
            else:
                self._redis.zrem(members_key, member)
        owners = {p: value.decode() for p, value in zip(partitions, leases, strict=True) if value is not None}
        for partition, owner in list(owners.items()):
            if owner != self.member and owner not in live:
                self._delete_if(keys=[self._lease_key(partition)], args=[owner])
                del owners[partition]
        mine = [p for p, owner in sorted(owners.items()) if owner == self.member]
        share = fair_share(self._spec.partitions, len(live))
        for partition in mine[share:]:
            self._delete_if(keys=[self._lease_key(partition)], args=[self.member])
        mine = [
            p for p in mine[:share] if self._renew(keys=[self._lease_key(p)], args=[self.member, lease_ms])
        ]
        for partition in partitions:
            if len(mine) >= share:
                break
            if partition in owners or partition in mine:
                continue
            if self._redis.set(self._lease_key(partition), self.member, nx=True, px=lease_ms):
                mine.append(partition)
        self._cursors = {p: self._cursors.get(p, "0") for p in sorted(mine)}
        self._unacked = {p: ids for p, ids in self._unacked.items() if p in self._cursors}
        interval = lease_s / 3 if self._cursors else min(0.25, lease_s / 3)
        self._next_balance = time.monotonic() + interval
