"""Settings of the Redis Streams bus."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import Settings, mask_url
from app.errors import ConfigError

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

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisBusConfig:
        if settings.BUS_URL is not None and settings.BUS_URL.startswith(("redis://", "rediss://")):
            return cls(url=settings.BUS_URL, lease_s=settings.BUS_LEASE_S)
        if settings.REDIS_URL is not None:
            return cls(url=settings.REDIS_URL, lease_s=settings.BUS_LEASE_S)
        raise ConfigError("the redis bus needs BUS_URL=redis://host:port/db or REDIS_URL")
