"""A group member that reports which partitions it owns, for membership tests.

Usage: ``python -m tests.integration.bus.owner_worker HUB GROUP OUT_FILE``; the bus comes
from the environment (``BUS_URL``, ``BUS_LEASE_S``). Each poll appends one JSON line
``{"t": <unix time>, "partitions": [...]}`` to OUT_FILE and acknowledges what it read.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from app.bootstrap import build_bus
from app.bus.redis.client import RedisConsumer
from app.config import load_settings


def main() -> None:
    hub, group, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    bus = build_bus(load_settings())
    consumer = bus.consumer(hub, group)
    assert isinstance(consumer, RedisConsumer)
    with out.open("a") as sink:
        while True:
            batch = consumer.poll(50, 0.2)
            if batch:
                consumer.checkpoint(batch)
            sink.write(json.dumps({"t": time.time(), "partitions": consumer.partitions}) + "\n")
            sink.flush()


if __name__ == "__main__":
    main()
