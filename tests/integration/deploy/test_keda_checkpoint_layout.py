"""KEDA's ``blobMetadata`` checkpoint strategy finds the checkpoints our Event Hubs consumers write.

The consumer jobs in deploy/aca/jobs are started by KEDA's azure-eventhub scaler, which reads the
blob ``<namespace>/<hub>/<lower-cased group>/checkpoint/<partition>`` of the configured container
and takes the ``sequencenumber`` entry of its metadata. This test consumes and checkpoints through
the bus code (Event Hubs test server, checkpoints in Azurite) with the hub, group and container the
manifests name, and reads the checkpoint back at that path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from azure.storage.blob import ContainerClient

from app.bootstrap import build_bus
from app.bus.envelope import Envelope
from app.bus.ports import Delivered
from app.config import Settings
from tests.eventhubs_server.fixtures import eventhubs_server
from tests.eventhubs_server.server import EventHubsTestServer
from tests.servers import Server

__all__ = ["eventhubs_server"]

JOBS = Path(__file__).resolve().parents[3] / "deploy/aca/jobs"


def keda_blob_path(namespace: str, metadata: dict[str, str], partition: int) -> str:
    """The blob KEDA's blobMetadata checkpointer reads (pkg/scalers/azure/azure_eventhub_checkpoint.go)."""
    group = metadata["consumerGroup"].lower()
    return f"{namespace}/{metadata['eventHubName']}/{group}/checkpoint/{partition}"


@pytest.mark.parametrize("manifest", ["order-consumer.containerapp.yaml", "sweep-consumer.containerapp.yaml"])
def test_checkpoint_sits_where_the_scaler_reads_it(
    manifest: str,
    eventhubs_server: EventHubsTestServer,
    azurite: Server,
    make_settings: Callable[..., Settings],
) -> None:
    job = yaml.safe_load((JOBS / manifest).read_text())
    (rule,) = job["properties"]["configuration"]["eventTriggerConfig"]["scale"]["rules"]
    metadata: dict[str, str] = rule["metadata"]
    connection = azurite.extra["connection_string"]
    settings = make_settings(
        EH_CONNECTION_STRING=eventhubs_server.connection_string(),
        AZURE_STORAGE_CONNECTION_STRING=connection,
        CHECKPOINT_CONTAINER=metadata["blobContainer"],
        BUS_LEASE_S=2,
    )
    hub, group = metadata["eventHubName"], metadata["consumerGroup"]
    bus = build_bus(settings)
    container = ContainerClient.from_connection_string(connection, metadata["blobContainer"])
    try:
        bus.publish(hub, [Envelope.wrap("diagnostics.quicksend", {"n": 1}, partition_key="AAPL")])
        consumer = bus.consumer(hub, group)
        try:
            got: list[Delivered] = []
            for _ in range(120):
                got += consumer.poll(10, 0.25)
                if got:
                    break
            assert got, "the published event was not delivered"
            consumer.checkpoint(got)
        finally:
            consumer.close()

        newest = max(got, key=lambda d: d.sequence)
        blobs = {
            b.name: b.metadata for b in container.list_blobs(include=["metadata"]) if "/checkpoint/" in b.name
        }
        (name,) = blobs
        namespace = name.split(f"/{hub}/", 1)[0]
        assert name == keda_blob_path(namespace, metadata, newest.partition)
        assert blobs[name]["sequencenumber"] == str(newest.sequence)
        # the store lower-cases the whole name; KEDA lower-cases only the group, so the namespace
        # and hub in the manifest must already be lower case (the unit test checks the manifest)
        assert name == name.lower()
    finally:
        for blob in container.list_blobs():
            container.delete_blob(blob.name)
        container.close()
        bus.close()
