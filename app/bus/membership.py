"""Naming consumers and sharing partitions fairly among the live members of a group."""

from __future__ import annotations

import math
import os
import socket
import uuid

__all__ = ["HOST", "fair_share", "new_member_name", "process_alive"]

HOST = socket.gethostname()


def new_member_name() -> str:
    """``host:pid:tag``: unique per consumer, and tells a peer on this host whether we still run."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_alive(member: str) -> bool:
    """False only when ``member`` ran on this host and its process is gone (e.g. SIGKILL)."""
    host, _, rest = member.partition(":")
    if host != HOST:
        return True
    pid_text = rest.partition(":")[0]
    if not pid_text.isdigit():
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
