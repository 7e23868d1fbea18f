"""One scheduler per database: the running scheduler keeps renewing its lease row.

Two platforms started on one database (or one ``var/``) would otherwise both run every daily
job. The first scheduler takes the lease row of the schedule
(:class:`~app.storage.repositories.leases.SchedulerLease`); the others stand by, try again
every third of the lease, and take over when the holder stopped renewing (crash) or released
it (clean stop).
"""

from __future__ import annotations

import logging
import threading

from app.errors import StorageError
from app.storage.repositories.leases import LeaseHolder, SchedulerLease, new_owner_id

__all__ = ["LeaseHolder", "LeaseKeeper", "SchedulerLease", "new_owner_id"]

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews a held lease every third of its length on a thread; ``held`` turns False as
    soon as a renewal fails or finds the lease taken."""

    def __init__(self, lease: SchedulerLease) -> None:
        self.lease = lease
        self.held = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.held.set()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="scheduler-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.lease.lease_s / 3):
            try:
                still = self.lease.acquire()
            except StorageError as exc:
                log.error("schedule: cannot renew the scheduler lease, pausing the schedule: %s", exc)
                still = False
            if not still:
                self.held.clear()
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.held.clear()
