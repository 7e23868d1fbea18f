"""Roles each workload identity needs (docs/howto/operations/managed-identity.md), as data.

``infra/main.bicep`` grants them and ``ai-trader azure verify`` checks that they are assigned;
the tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IDENTITIES", "REQUIRED_GRANTS", "ROLE_IDS", "Grant"]

ROLE_IDS: dict[str, str] = {
    "Azure Event Hubs Data Sender": "2b629674-e913-4c01-ae53-ef4638d8f975",
    "Azure Event Hubs Data Receiver": "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382d614e",
}
"""Built-in role definition ids; the same in every tenant."""

IDENTITIES: dict[str, str] = {
    "api": "system-assigned identity of the api web app",
    "ui": "system-assigned identity of the ui web app",
    "orderConsumer": "ai-trader-order-consumer",
    "sweepConsumer": "ai-trader-sweep-consumer",
    "jobs": "ai-trader-jobs",
    "scheduler": "ai-trader-scheduler",
}
"""Identity key (as in infra/main.bicep) -> what it is."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One role on one scope.

    ``scope`` is ``namespace``, ``hub:<name>``, ``container:<name>``, ``vault``, ``registry`` or
    ``job:<name>``.
    """

    identity: str
    role: str
    scope: str


_SENDER, _RECEIVER = "Azure Event Hubs Data Sender", "Azure Event Hubs Data Receiver"
_BLOB_RW, _BLOB_R = "Storage Blob Data Contributor", "Storage Blob Data Reader"

REQUIRED_GRANTS: frozenset[Grant] = frozenset(
    {
        # API: publishes exec.orders and backtest.jobs, reads hub properties for /health/ready
        Grant("api", _SENDER, "namespace"),
        Grant("api", _RECEIVER, "namespace"),
        Grant("api", _BLOB_RW, "container:trader-data"),
        Grant("api", _BLOB_RW, "container:configs"),
        # UI: the frame viewer lists and downloads frames
        Grant("ui", _BLOB_R, "container:trader-data"),
        # order consumer (and its KEDA scaler)
        Grant("orderConsumer", _RECEIVER, "hub:exec.orders"),
        Grant("orderConsumer", _BLOB_RW, "container:eh-checkpoints"),
        Grant("orderConsumer", _BLOB_RW, "container:trader-data"),
        # sweep consumer (and its KEDA scaler); starts ai-trader-sweep
        Grant("sweepConsumer", _RECEIVER, "hub:backtest.jobs"),
        Grant("sweepConsumer", _BLOB_RW, "container:eh-checkpoints"),
        Grant("sweepConsumer", "Contributor", "job:ai-trader-sweep"),
        # sweep job
        Grant("jobs", _BLOB_R, "container:configs"),
        Grant("jobs", _BLOB_RW, "container:trader-data"),
        # scheduler: routes orders onto exec.orders, fetches bars through the blob cache
        Grant("scheduler", _SENDER, "hub:exec.orders"),
        Grant("scheduler", _BLOB_RW, "container:trader-data"),
    }
    | {Grant(identity, "Key Vault Secrets User", "vault") for identity in IDENTITIES}
    | {Grant(identity, "AcrPull", "registry") for identity in IDENTITIES}
)
