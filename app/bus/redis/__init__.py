"""Redis Streams bus: one stream per hub partition, consumer groups, XACK checkpoints."""

from app.bus.redis.client import RedisBus, RedisConsumer
from app.bus.redis.config import RedisBusConfig

__all__ = ["RedisBus", "RedisBusConfig", "RedisConsumer"]
