"""The scheduler's lease row: one scheduler per database.

Two platforms started on one database (or one ``var/``) would otherwise both run every daily
job. The first scheduler takes the lease row of the schedule; the others stand by, try again
every third of the lease, and take over when the holder stopped renewing (crash) or released
it (clean stop).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from app.errors import StorageError
from app.storage.db import Database
from app.storage.models import SchedulerLease as LeaseRow

__all__ = ["LeaseHolder", "SchedulerLease", "new_owner_id"]

log = logging.getLogger(__name__)

_leases = cast(Table, LeaseRow.__table__)


def new_owner_id() -> str:
    """``host:pid:instance``, unique per scheduler process (the instance id decides)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    owner: str
    expires_at: datetime


class SchedulerLease:
    """The lease of schedule ``name`` in ``database``, held for ``lease_s`` after each renewal."""

    def __init__(
        self,
        database: Database,
        *,
        name: str = "daily",
        owner: str | None = None,
        lease_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not lease_s > 0:
            raise ValueError(f"lease_s must be positive, got {lease_s!r}")
        self._db = database
        self.name = name
        self.owner = owner or new_owner_id()
        self.lease_s = lease_s
        self._clock = clock

    def acquire(self) -> bool:
        """Take or renew the lease; True when this scheduler holds it afterwards.

        One statement decides (insert, or update only if the row is ours or expired), so two
        schedulers racing for an expired lease cannot both win.

        Raises:
            StorageError: the database did not answer (the caller must not run jobs).
        """
        now = self._clock()
        values = {"name": self.name, "owner": self.owner, "expires_at": now + timedelta(seconds=self.lease_s)}
        try:
            with self._db.transaction() as session:
                connection = session.connection()
                insert: Any = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
                stmt = insert(_leases).values(**values, updated_at=now)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[_leases.c.name],
                    set_={
                        "owner": stmt.excluded.owner,
                        "expires_at": stmt.excluded.expires_at,
                        "updated_at": stmt.excluded.updated_at,
                    },
                    where=(_leases.c.owner == self.owner) | (_leases.c.expires_at <= now),
                )
                connection.execute(stmt)
                owner = connection.execute(
                    select(_leases.c.owner).where(_leases.c.name == self.name)
                ).scalar()
        except SQLAlchemyError as exc:
            raise StorageError(f"scheduler lease: {type(exc).__name__}: {exc}") from exc
        return owner == self.owner

    def holder(self) -> LeaseHolder | None:
        """Who holds the lease and until when (``None``: nobody ever took it)."""
        try:
            with self._db.engine.connect() as connection:
                row = connection.execute(
                    select(_leases.c.owner, _leases.c.expires_at).where(_leases.c.name == self.name)
                ).first()
        except SQLAlchemyError as exc:
            raise StorageError(f"scheduler lease: {type(exc).__name__}: {exc}") from exc
        return None if row is None else LeaseHolder(str(row[0]), row[1])

    def release(self) -> None:
        """Give the lease up (clean stop) so a standby takes over at once."""
        try:
            with self._db.transaction() as session:
                session.execute(
                    delete(_leases).where(_leases.c.name == self.name, _leases.c.owner == self.owner)
                )
        except SQLAlchemyError as exc:
            log.warning("scheduler lease not released (it expires by itself): %s", exc)
