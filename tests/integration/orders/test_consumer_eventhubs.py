"""The consumer on the Event Hubs backend with blob checkpoints (proton test server + Azurite).

The consumer runs as its own process with the runbook's ``KEY=VALUE`` arguments; the only
test-specific step is the SDK decoder padding the test server needs (see
``tests/eventhubs_server/client_patch.py``), installed before :func:`main` runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from app.bootstrap import build_blob_store, build_bus
from app.config import Settings
from app.storage.db import Database
from app.storage.repositories.orders import OrdersRepository
from tests.eventhubs_server.fixtures import eventhubs_server
from tests.eventhubs_server.server import EventHubsTestServer
from tests.integration.orders.scenario import build
from tests.servers import REPO, Server

__all__ = ["eventhubs_server"]

HUB = "exec.orders"
GROUP = "orchestrator"
RUNNER = (
    "import sys\n"
    "from tests.eventhubs_server import client_patch\n"
    "client_patch.install()\n"
    "from app.workers.order_consumer import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_consumer_checkpoints_to_blob_and_resumes_there(
    eventhubs_server: EventHubsTestServer,
    azurite: Server,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    container = f"ckpt-{uuid.uuid4().hex[:12]}"
    storage = azurite.extra["connection_string"]
    database_url = f"sqlite:///{tmp_path / 'orders.db'}"
    args = [
        f"EH_CONNECTION_STRING={eventhubs_server.connection_string()}",
        f"EH_HUB_ORDERS={HUB}",
        f"EH_CONSUMER_GROUP={GROUP}",
        f"AZURE_STORAGE_CONNECTION_STRING={storage}",
        f"CHECKPOINT_CONTAINER={container}",
        f"DATABASE_URL={database_url}",
        "BUS_LEASE_S=2",
        "IDLE_EXIT_SECONDS=5",
    ]
    settings = make_settings(
        EH_CONNECTION_STRING=eventhubs_server.connection_string(),
        AZURE_STORAGE_CONNECTION_STRING=storage,
        CHECKPOINT_CONTAINER=container,
        BUS_LEASE_S=2,
    )
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env["DATA_DIR"] = str(tmp_path / "var")
    scenario = build(300, seed=9)
    bus = build_bus(settings)
    bus.publish(HUB, scenario.envelopes)

    def run_consumer() -> int:
        """Run to idle exit; return how many events the consumer says it handled."""
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, *args], env=env, cwd=REPO, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        summary = [
            json.loads(line)
            for line in done.stderr.decode().splitlines()
            if line.startswith("{") and '"order consumer done"' in line
        ]
        assert len(summary) == 1, done.stderr.decode()[-3000:]
        return int(summary[0]["events"])

    assert run_consumer() == len(scenario.envelopes)
    database = Database(database_url)
    service = OrdersRepository(database)
    for cid, expected in scenario.expected.items():
        detail = service.get_order(cid)
        assert detail.order.status == expected.status, cid
        assert {f.venue_fill_id for f in detail.fills} == expected.fill_ids, cid
    assert build_blob_store(settings).list(container), "no checkpoint blobs were written"

    # A restart resumes from the blob checkpoints: only the events published since are read.
    extra = build(5, seed=10, prefix="late")
    bus.publish(HUB, extra.envelopes)
    assert run_consumer() == len(extra.envelopes)
    for cid in extra.expected:
        assert service.get_order(cid).order.client_order_id == cid
    consumer = bus.consumer(HUB, GROUP)
    assert sum(lag.events_behind for lag in consumer.lag()) == 0
    consumer.close()
    bus.close()
    database.dispose()
