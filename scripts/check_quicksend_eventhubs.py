"""Check that a hub works: send a tagged event and read it back through the diagnostics group.

    python scripts/check_quicksend_eventhubs.py                 # exec.orders (EH_HUB_ORDERS)
    python scripts/check_quicksend_eventhubs.py --hub bars.raw
    python scripts/check_quicksend_eventhubs.py --peek 20       # newest 20 events, no test event

The bus is the configured one (Event Hubs with EH_FQDN / EH_CONNECTION_STRING, Redis, or the
local log). Exit status: 0 when the event came back, 1 when it did not or the bus failed,
2 for a configuration error.
"""

from __future__ import annotations

import argparse
import sys

from app.bootstrap import build_bus
from app.bus.diagnostics import peek_rows, quicksend
from app.bus.topology import topology
from app.config import load_settings
from app.errors import AiTraderError, ConfigError, InputError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send a test event to a hub and read it back.")
    parser.add_argument("--hub", help="Hub name (default: EH_HUB_ORDERS, exec.orders).")
    parser.add_argument("--group", default="diagnostics", help="Consumer group to read back through.")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds to wait for the event.")
    parser.add_argument("--peek", type=int, metavar="N", help="List the newest N events instead.")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        hub = args.hub or settings.EH_HUB_ORDERS
        backend = settings.bus_backend
        print(f"bus: {backend.kind} ({backend.target})")
        bus = build_bus(settings)
        try:
            if args.peek is not None:
                if args.peek < 1:
                    raise InputError("--peek needs a positive count")
                rows = peek_rows(bus, hub, args.peek)
                print(f"{hub}: newest {len(rows)} event(s)")
                for row in rows:
                    print(
                        f"  p{row['partition']:>2} offset {row['offset']:<22} {row['enqueued_at']}  "
                        f"{row['type']:<22} {row['key']:<14} {row['payload']}"
                    )
                return 0
            partitions = next((h.partitions for h in topology(settings) if h.name == hub), None)
            result = quicksend(bus, hub, group=args.group, timeout_s=args.timeout, partitions=partitions)
        finally:
            bus.close()
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AiTraderError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(
        f"OK: event {result.event_id} on {result.hub} partition {result.partition} offset {result.offset} "
        f"came back through {result.group} in {result.latency_s * 1000:.1f} ms "
        f"({result.skipped_backlog} older event(s) skipped)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
