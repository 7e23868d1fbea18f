"""The Azure CLI commands that create the topology on an Event Hubs namespace, and its check."""

from __future__ import annotations

from collections.abc import Sequence

from app.bus.topology import HubSpec

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_RESOURCE_GROUP",
    "az_provision_commands",
    "az_verify_command",
    "namespace_from_fqdn",
]

DEFAULT_RESOURCE_GROUP = "ai-trader-rg"
DEFAULT_NAMESPACE = "ai-trader-ehns"


def namespace_from_fqdn(fqdn: str | None) -> str:
    """``ai-trader-ehns.servicebus.windows.net`` -> ``ai-trader-ehns`` (default when unset)."""
    return fqdn.split(".", 1)[0] if fqdn else DEFAULT_NAMESPACE


def az_provision_commands(hubs: Sequence[HubSpec], resource_group: str, namespace: str) -> list[list[str]]:
    """``az eventhubs eventhub create`` per hub, then ``consumer-group create`` per group.

    Retention uses ``--retention-time-in-hours`` with the ``Delete`` cleanup policy.
    """
    commands: list[list[str]] = []
    for spec in hubs:
        commands.append(
            [
                "az", "eventhubs", "eventhub", "create",
                "-g", resource_group, "--namespace-name", namespace, "-n", spec.name,
                "--partition-count", str(spec.partitions),
                "--cleanup-policy", "Delete",
                "--retention-time-in-hours", str(spec.retention_hours),
            ]
        )  # fmt: skip
        for group in spec.consumer_groups:
            commands.append(
                [
                    "az", "eventhubs", "eventhub", "consumer-group", "create",
                    "-g", resource_group, "--namespace-name", namespace,
                    "--eventhub-name", spec.name, "-n", group,
                ]
            )  # fmt: skip
    return commands


def az_verify_command(resource_group: str, namespace: str) -> list[str]:
    """The runbook's verification query: every hub with its partitions and retention hours."""
    return [
        "az", "eventhubs", "eventhub", "list", "-g", resource_group, "--namespace-name", namespace,
        "--query",
        "[].{name:name,partitions:partitionCount,retentionH:retentionDescription.retentionTimeInHours}",
        "-o", "table",
    ]  # fmt: skip
