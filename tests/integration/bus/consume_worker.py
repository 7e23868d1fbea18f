"""A consumer process for crash tests: records each event id durably, then checkpoints.

Usage: ``python -m tests.integration.bus.consume_worker HUB GROUP OUT_FILE [DELAY_S]``; the bus
comes from the environment (``BUS_URL`` ...), exactly as a deployed consumer's would.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from app.bootstrap import build_bus
from app.config import load_settings


def main() -> None:
    if os.environ.get("AIT_TEST_PATCH_EVENTHUBS") == "1":
        from tests.eventhubs_server import client_patch

        client_patch.install()
    hub, group, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    bus = build_bus(load_settings())
    consumer = bus.consumer(hub, group)
    with out.open("a") as sink:
        while True:
            batch = consumer.poll(20, 0.5)
            if not batch:
                continue
            for item in batch:
                sink.write(f"{item.envelope.event_id if item.envelope else 'bad:' + item.offset}\n")
            sink.flush()
            os.fsync(sink.fileno())
            consumer.checkpoint(batch)
            time.sleep(delay)


if __name__ == "__main__":
    main()
