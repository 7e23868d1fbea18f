"""A durable, partitioned event log in one SQLite file, shared by processes on one machine.

Layout: ``events`` holds every partition's events keyed by ``(hub, partition, seq)``;
``heads`` the last sequence per partition; ``checkpoints`` each group's position;
``members`` and ``owners`` the consumers alive in a group and the partitions each one
reads (so one partition has exactly one reader, which keeps per-key order); ``dead_letters``
the events a consumer could not handle. WAL mode lets readers run while one writer commits;
writes take ``BEGIN IMMEDIATE`` so concurrent publishers serialise on the sequence numbers.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from app.bus.capabilities import Capability
from app.bus.decoding import delivered as make_delivered
from app.bus.decoding import delivered_batch
from app.bus.envelope import Envelope
from app.bus.local.config import LocalBusConfig
from app.bus.membership import fair_share, new_member_name, process_alive
from app.bus.partitioning import partition_for
from app.bus.polling import poll_with_backoff
from app.bus.ports import DeadLetter, Delivered, PartitionLag, PublishReceipt
from app.bus.topology import HubSpec
from app.errors import BusError

__all__ = ["LocalBus", "LocalConsumer"]

Clock = Callable[[], float]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hubs (
    name TEXT PRIMARY KEY, partitions INTEGER NOT NULL, retention_hours INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    hub TEXT NOT NULL, partition INTEGER NOT NULL, seq INTEGER NOT NULL,
    enqueued_at REAL NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (hub, partition, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
    hub TEXT NOT NULL, partition INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    PRIMARY KEY (hub, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    hub TEXT NOT NULL, grp TEXT NOT NULL, partition INTEGER NOT NULL, seq INTEGER NOT NULL,
    updated_at REAL NOT NULL, PRIMARY KEY (hub, grp, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    hub TEXT NOT NULL, grp TEXT NOT NULL, member TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (hub, grp, member)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS owners (
    hub TEXT NOT NULL, grp TEXT NOT NULL, partition INTEGER NOT NULL, member TEXT NOT NULL,
    expires_at REAL NOT NULL, PRIMARY KEY (hub, grp, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, grp TEXT NOT NULL,
    partition INTEGER NOT NULL, "offset" TEXT NOT NULL, reason TEXT NOT NULL, raw BLOB NOT NULL,
    recorded_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_by_group ON dead_letters (hub, grp, id);
CREATE TABLE IF NOT EXISTS dead_letters_replayed (
    id INTEGER PRIMARY KEY, replayed_at REAL NOT NULL);
"""


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise BusError(f"cannot open the local bus at {path}: {exc}") from exc
    return conn


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise BusError(f"local bus is busy or unavailable: {exc}") from exc
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise BusError(f"local bus commit failed: {exc}") from exc


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class LocalBus:
    """The embedded bus; one instance per process, any number of processes per file."""

    kind = "local"
    capabilities = frozenset(
        {
            Capability.OFFSETS_ON_PUBLISH,
            Capability.LOCAL_RETENTION,
            Capability.PEEK,
            Capability.PARTITION_OWNERSHIP,
        }
    )

    def __init__(self, config: LocalBusConfig, hubs: Sequence[HubSpec], clock: Clock = time.time) -> None:
        self.config = config
        self._hubs = {spec.name: spec for spec in hubs}
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = _connect(config.path, config.busy_timeout_s)
        self._next_retention = 0.0
        try:
            self._conn.executescript(_SCHEMA)
            self._register_hubs()
        except sqlite3.Error as exc:
            self._conn.close()
            raise BusError(f"cannot prepare the local bus at {config.path}: {exc}") from exc

    # --- Bus protocol -------------------------------------------------------------------
    def publish(self, hub: str, events: Sequence[Envelope]) -> list[PublishReceipt]:
        return self._append(hub, [(e.partition_key, e.to_bytes(), e.event_id) for e in events])

    def publish_raw(self, hub: str, partition_key: str, body: bytes) -> PublishReceipt:
        """Append bytes that need not be an envelope (what a foreign or broken producer sends)."""
        return self._append(hub, [(partition_key, body, "")])[0]

    def _append(self, hub: str, items: Sequence[tuple[str, bytes, str]]) -> list[PublishReceipt]:
        spec = self.hub(hub)
        if not items:
            return []
        now = self._clock()
        receipts: list[PublishReceipt] = []
        with self._lock:
            try:
                with _immediate(self._conn) as conn:
                    heads: dict[int, int] = dict(
                        conn.execute("SELECT partition, last_seq FROM heads WHERE hub = ?", (hub,))
                    )
                    touched: dict[int, int] = {}
                    rows = []
                    for key, body, event_id in items:
                        partition = partition_for(key, spec.partitions)
                        seq = heads.get(partition, 0) + 1
                        heads[partition] = touched[partition] = seq
                        rows.append((hub, partition, seq, now, body))
                        receipts.append(PublishReceipt(hub, partition, str(seq), event_id))
                    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
                    conn.executemany(
                        "INSERT INTO heads VALUES (?, ?, ?) ON CONFLICT (hub, partition) "
                        "DO UPDATE SET last_seq = excluded.last_seq",
                        [(hub, partition, seq) for partition, seq in touched.items()],
                    )
            except sqlite3.Error as exc:
                raise BusError(f"publish to {hub} failed: {exc}") from exc
            if time.monotonic() >= self._next_retention:
                self._next_retention = time.monotonic() + self.config.retention_check_s
                self._delete_expired(now)
        return receipts

    def consumer(self, hub: str, group: str) -> LocalConsumer:
        spec = self.hub(hub)
        _check_group(spec, group)
        return LocalConsumer(self, spec, group)

    def dead_letters(self, hub: str, group: str, limit: int = 100) -> list[DeadLetter]:
        self.hub(hub)
        with self._lock:
            rows = self._conn.execute(
                'SELECT d.partition, d."offset", d.reason, d.raw, d.recorded_at, d.id, r.replayed_at '
                "FROM dead_letters d LEFT JOIN dead_letters_replayed r ON r.id = d.id "
                "WHERE d.hub = ? AND d.grp = ? ORDER BY d.id DESC LIMIT ?",
                (hub, group, limit),
            ).fetchall()
        return [
            DeadLetter(
                hub,
                group,
                p,
                off,
                reason,
                bytes(raw),
                _utc(ts),
                str(row_id),
                _utc(replayed) if replayed is not None else None,
            )
            for p, off, reason, raw, ts, row_id, replayed in rows
        ]

    def mark_replayed(self, hub: str, group: str, ids: Sequence[str]) -> None:
        self.hub(hub)
        numbers = [int(i) for i in ids if i.isdigit()]
        try:
            with self._lock, _immediate(self._conn) as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO dead_letters_replayed (id, replayed_at) "
                    "SELECT id, ? FROM dead_letters WHERE id = ? AND hub = ? AND grp = ?",
                    [(self.now(), n, hub, group) for n in numbers],
                )
        except sqlite3.Error as exc:
            raise BusError(f"marking dead letters of {hub}/{group} replayed failed: {exc}") from exc

    def provision(self) -> list[str]:
        with self._lock:
            self._register_hubs()
        lines = [f"local log {self.config.path} (SQLite WAL): tables ready"]
        for spec in self._hubs.values():
            lines.append(
                f"hub {spec.name}: {spec.partitions} partitions, {spec.retention_hours} h retention, "
                f"groups {', '.join(spec.consumer_groups)}"
            )
        return lines

    def ping(self) -> None:
        with self._lock:
            try:
                self._conn.execute("SELECT count(*) FROM hubs").fetchone()
            except sqlite3.Error as exc:
                raise BusError(f"local bus at {self.config.path} does not answer: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- administration -----------------------------------------------------------------
    def hub(self, name: str) -> HubSpec:
        """The spec of a configured hub; raises ``BusError`` for an unknown name."""
        try:
            return self._hubs[name]
        except KeyError:
            known = ", ".join(sorted(self._hubs))
            raise BusError(f"unknown hub {name!r}; configured hubs: {known}") from None

    def apply_retention(self, now: float | None = None) -> int:
        """Delete events older than their hub's retention; return how many were deleted."""
        with self._lock:
            return self._delete_expired(self._clock() if now is None else now)

    def peek(self, hub: str, limit: int = 10) -> list[Delivered]:
        """The newest ``limit`` events of ``hub`` across partitions, oldest first."""
        self.hub(hub)
        with self._lock:
            rows = self._conn.execute(
                "SELECT partition, seq, enqueued_at, body FROM events WHERE hub = ? "
                "ORDER BY enqueued_at DESC, seq DESC LIMIT ?",
                (hub, limit),
            ).fetchall()
        return [
            make_delivered(hub, p, str(seq), seq, _utc(ts), bytes(body))
            for p, seq, ts, body in reversed(rows)
        ]

    def now(self) -> float:
        return self._clock()

    # --- internals ----------------------------------------------------------------------
    def _register_hubs(self) -> None:
        with _immediate(self._conn) as conn:
            stored = dict(conn.execute("SELECT name, partitions FROM hubs"))
            for spec in self._hubs.values():
                if spec.name in stored and stored[spec.name] != spec.partitions:
                    raise BusError(
                        f"hub {spec.name} has {stored[spec.name]} partitions in {self.config.path} "
                        f"but {spec.partitions} are configured; use a new bus file"
                    )
                conn.execute(
                    "INSERT INTO hubs VALUES (?, ?, ?) ON CONFLICT (name) "
                    "DO UPDATE SET retention_hours = excluded.retention_hours",
                    (spec.name, spec.partitions, spec.retention_hours),
                )

    def _delete_expired(self, now: float) -> int:
        deleted = 0
        try:
            with _immediate(self._conn) as conn:
                for spec in self._hubs.values():
                    cutoff = now - spec.retention_hours * 3600.0
                    deleted += conn.execute(
                        "DELETE FROM events WHERE hub = ? AND enqueued_at < ?", (spec.name, cutoff)
                    ).rowcount
        except sqlite3.Error as exc:
            raise BusError(f"retention clean-up failed: {exc}") from exc
        return deleted


def _check_group(spec: HubSpec, group: str) -> None:
    if group not in spec.consumer_groups and group != "$Default":
        raise BusError(
            f"unknown consumer group {group!r} on {spec.name}; groups: {', '.join(spec.consumer_groups)}"
        )


class LocalConsumer:
    """Reads the partitions of one hub this consumer owns within its group."""

    def __init__(self, bus: LocalBus, spec: HubSpec, group: str) -> None:
        self._bus = bus
        self._spec = spec
        self.hub = spec.name
        self.group = group
        self.member = new_member_name()
        self._conn = _connect(bus.config.path, bus.config.busy_timeout_s)
        self._positions: dict[int, int] = {}
        self._next_balance = 0.0
        self._rotation = 0
        self._closed = False

    @property
    def partitions(self) -> list[int]:
        """Partitions this consumer currently reads."""
        return sorted(self._positions)

    def poll(self, max_events: int = 500, timeout_s: float = 1.0) -> list[Delivered]:
        self._check_open()
        return poll_with_backoff(
            self._read,
            self._balance,
            lambda: self._next_balance,
            max_events,
            timeout_s,
            self._bus.config.idle_sleep_max_s,
        )

    def checkpoint(self, delivered: Sequence[Delivered]) -> None:
        self._check_open()
        newest: dict[int, int] = {}
        for item in delivered:
            if item.hub != self.hub:
                raise BusError(f"cannot checkpoint an event of {item.hub} on a consumer of {self.hub}")
            newest[item.partition] = max(newest.get(item.partition, 0), item.sequence)
        if not newest:
            return
        now = time.time()
        try:
            with _immediate(self._conn) as conn:
                conn.executemany(
                    "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?) ON CONFLICT (hub, grp, partition) "
                    "DO UPDATE SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at",
                    [(self.hub, self.group, p, seq, now) for p, seq in newest.items()],
                )
        except sqlite3.Error as exc:
            raise BusError(f"checkpoint on {self.hub}/{self.group} failed: {exc}") from exc

    def dead_letter(self, delivered: Delivered, reason: str) -> None:
        self._check_open()
        try:
            with _immediate(self._conn) as conn:
                conn.execute(
                    'INSERT INTO dead_letters (hub, grp, partition, "offset", reason, raw, recorded_at) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.hub,
                        self.group,
                        delivered.partition,
                        delivered.offset,
                        reason,
                        delivered.raw,
                        self._bus.now(),
                    ),
                )
        except sqlite3.Error as exc:
            raise BusError(f"dead-letter on {self.hub}/{self.group} failed: {exc}") from exc

    def lag(self) -> list[PartitionLag]:
        self._check_open()
        now = self._bus.now()
        conn = self._conn
        heads = dict(conn.execute("SELECT partition, last_seq FROM heads WHERE hub = ?", (self.hub,)))
        done = dict(
            conn.execute(
                "SELECT partition, seq FROM checkpoints WHERE hub = ? AND grp = ?", (self.hub, self.group)
            )
        )
        out = []
        for partition in range(self._spec.partitions):
            checkpointed = done.get(partition, 0)
            first = conn.execute(
                "SELECT seq, enqueued_at FROM events WHERE hub = ? AND partition = ? AND seq > ? "
                "ORDER BY seq LIMIT 1",
                (self.hub, partition, checkpointed),
            ).fetchone()
            if first is None:
                out.append(PartitionLag(self.hub, self.group, partition, 0, 0.0))
                continue
            behind = heads.get(partition, 0) - (first[0] - 1)
            out.append(PartitionLag(self.hub, self.group, partition, behind, max(0.0, now - first[1])))
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with _immediate(self._conn) as conn:
                conn.execute(
                    "DELETE FROM owners WHERE hub = ? AND grp = ? AND member = ?",
                    (self.hub, self.group, self.member),
                )
                conn.execute(
                    "DELETE FROM members WHERE hub = ? AND grp = ? AND member = ?",
                    (self.hub, self.group, self.member),
                )
        finally:
            self._conn.close()

    # --- internals ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"consumer of {self.hub}/{self.group} is closed")

    def _read(self, max_events: int) -> list[Delivered]:
        owned = sorted(self._positions)
        if not owned:
            return []
        start = self._rotation % len(owned)
        self._rotation += 1
        batch: list[tuple[int, str, int, datetime, bytes]] = []
        for i in range(len(owned)):
            room = max_events - len(batch)
            if room <= 0:
                break
            partition = owned[(start + i) % len(owned)]
            rows = self._conn.execute(
                "SELECT seq, enqueued_at, body FROM events WHERE hub = ? AND partition = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (self.hub, partition, self._positions[partition], room),
            ).fetchall()
            batch.extend((partition, str(seq), seq, _utc(ts), bytes(body)) for seq, ts, body in rows)
            if rows:
                self._positions[partition] = rows[-1][0]
        return delivered_batch(self.hub, batch)

    def _balance(self) -> None:
        """Renew this member, count live members, and hold a fair share of the partitions."""
        lease = self._bus.config.lease_s
        now = time.time()
        key = (self.hub, self.group)
        try:
            with _immediate(self._conn) as conn:
                conn.execute(
                    "INSERT INTO members VALUES (?, ?, ?, ?) ON CONFLICT (hub, grp, member) "
                    "DO UPDATE SET expires_at = excluded.expires_at",
                    (*key, self.member, now + lease),
                )
                live = set()
                for member, expires_at in conn.execute(
                    "SELECT member, expires_at FROM members WHERE hub = ? AND grp = ?", key
                ).fetchall():
                    if member == self.member or (expires_at > now and process_alive(member)):
                        live.add(member)
                    else:
                        conn.execute(
                            "DELETE FROM members WHERE hub = ? AND grp = ? AND member = ?", (*key, member)
                        )
                owners = {
                    partition: (member, expires_at)
                    for partition, member, expires_at in conn.execute(
                        "SELECT partition, member, expires_at FROM owners WHERE hub = ? AND grp = ?", key
                    )
                }
                mine = [p for p, (member, _) in sorted(owners.items()) if member == self.member]
                free = [
                    p
                    for p in range(self._spec.partitions)
                    if p not in owners or (owners[p][0] not in live or owners[p][1] <= now)
                ]
                free = [p for p in free if p not in mine]
                share = fair_share(self._spec.partitions, len(live))
                released = mine[share:]
                mine = mine[:share]
                while len(mine) < share and free:
                    mine.append(free.pop(0))
                conn.executemany(
                    "DELETE FROM owners WHERE hub = ? AND grp = ? AND partition = ? AND member = ?",
                    [(*key, p, self.member) for p in released],
                )
                conn.executemany(
                    "INSERT INTO owners VALUES (?, ?, ?, ?, ?) ON CONFLICT (hub, grp, partition) "
                    "DO UPDATE SET member = excluded.member, expires_at = excluded.expires_at",
                    [(*key, p, self.member, now + lease) for p in mine],
                )
                checkpoints = dict(
                    conn.execute("SELECT partition, seq FROM checkpoints WHERE hub = ? AND grp = ?", key)
                )
        except sqlite3.Error as exc:
            raise BusError(f"partition balancing on {self.hub}/{self.group} failed: {exc}") from exc
        self._positions = {p: self._positions.get(p, checkpoints.get(p, 0)) for p in mine}
        interval = lease / 3 if self._positions else min(0.25, lease / 3)
        self._next_balance = time.monotonic() + interval
