"""Settings of the Redis Streams bus."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import mask_url

__all__ = ["RedisBusConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisBusConfig:
    """Connection and stream layout.

    Streams are named ``<key_prefix><hub>:<partition>``. ``lease_s`` is how long a consumer
    holds a partition without renewing it (a consumer whose process died on this host
    loses it at once). ``pipeline_chunk`` bounds the commands sent per round trip.
    ``retention_check_s`` spaces out the ``MINID`` trims done while publishing.
    """

    url: str = field(repr=False)
    key_prefix: str = "ait:"
    lease_s: float = 10.0
    pipeline_chunk: int = 5000
    retention_check_s: float = 60.0
    socket_timeout_s: float = 10.0

    @property
    def display_url(self) -> str:
        return mask_url(self.url)
