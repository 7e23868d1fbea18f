"""Persist ``exec.orders`` events into trading.orders / trading.fills.

Usage: python scripts/order_consumer.py [KEY=VALUE ...]   (e.g. EH_HUB_ORDERS=exec.orders)
See docs/order-consumer.md; ``ai-trader consumer orders`` is the same command.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.workers.order_consumer import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
