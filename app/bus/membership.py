"""Naming consumers and sharing partitions fairly among the live members of a group.

A member is identified by a unique instance id and kept alive by its lease (a heartbeat
timestamp it renews); when the lease runs out, its peers drop it. A process id is only a
shortcut for noticing a SIGKILLed peer early, and only where it means something: a peer in
the same PID namespace of the same boot of the same host. Consumers in containers share a
host name but not a PID namespace, and each sees the other's PID as a different process or
none, so between them only the lease counts.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import uuid
from functools import cache
from pathlib import Path

__all__ = ["HOST", "fair_share", "new_member_name", "pid_scope", "process_alive"]

HOST = socket.gethostname()


@cache
def pid_scope() -> str:
    """A short digest of host name, boot id and PID namespace ("" when they cannot be read).

    Two processes see the same PID numbers exactly when their scopes are equal."""
    try:
        namespace = str(Path("/proc/self/ns/pid").readlink())
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
    return hashlib.sha256(f"{HOST}|{boot}|{namespace}".encode()).hexdigest()[:12]


def new_member_name() -> str:
    """``host:pid:scope:instance``: the instance id (random) makes it unique; host and pid
    are for people reading it; ``scope`` says where the pid may be checked."""
    return f"{HOST}:{os.getpid()}:{pid_scope()}:{uuid.uuid4().hex}"


def process_alive(member: str) -> bool:
    """False only when ``member`` runs in this PID scope and its process is gone (SIGKILL).

    Anything else (another host, another container, an older name format) is alive as far
    as a PID can tell; its lease decides."""
    parts = member.split(":")
    if len(parts) != 4:
        return True
    _host, pid_text, scope, _instance = parts
    if not scope or scope != pid_scope() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fair_share(partitions: int, live_members: int) -> int:
    """How many partitions one member may hold: ``ceil(partitions / members)``."""
    return math.ceil(partitions / max(1, live_members))
