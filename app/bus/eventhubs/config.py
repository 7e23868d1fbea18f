"""Settings of the Event Hubs bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.errors import ConfigError

__all__ = ["MEMORY_CHECKPOINT_GROUPS", "EventHubsConfig", "without_entity_path"]

MEMORY_CHECKPOINT_GROUPS: frozenset[str] = frozenset({"diagnostics"})
"""Groups that may consume with in-memory checkpoints: throwaway readers such as the quicksend check."""


def without_entity_path(connection_string: str) -> str:
    """The connection string without its ``EntityPath`` (the bus opens one client per hub)."""
    parts = [p for p in connection_string.split(";") if p and not p.lower().startswith("entitypath=")]
    return ";".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventHubsConfig:
    """Where the namespace is, how to authenticate, and where checkpoints live.

    Authentication: ``connection_string`` when given (its ``EntityPath`` is dropped: the bus
    opens one client per hub), else ``DefaultAzureCredential`` on ``fully_qualified_namespace``
    (``AzureCliCredential`` when ``use_cli_credential``, i.e. ``LOCAL_DEV=1``).
    Checkpoints and partition ownership go to ``checkpoint_container`` of ``storage_account``
    (or ``storage_connection_string``). With neither there is no checkpoint store, and a
    consumer is refused (a restart would lose its position) unless
    ``allow_memory_checkpoints`` (``EH_ALLOW_MEMORY_CHECKPOINTS=1``) or its group is
    ``diagnostics``; publishing never needs the store.
    ``ownership_s`` is how long a partition claim lasts without renewal; the SDK rebalances
    every third of it. ``retry_total`` is the SDK's retry budget per operation.
    """

    fully_qualified_namespace: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    use_cli_credential: bool = False
    storage_account: str | None = None
    storage_connection_string: str | None = field(default=None, repr=False)
    checkpoint_container: str = "eh-checkpoints"
    allow_memory_checkpoints: bool = False
    ownership_s: float = 10.0
    prefetch: int = 300
    retry_total: int = 3
    peek_timeout_s: float = 5.0

    @property
    def namespace_label(self) -> str:
        if self.fully_qualified_namespace:
            return self.fully_qualified_namespace
        endpoint = next(
            (
                p.split("=", 1)[1]
                for p in (self.connection_string or "").split(";")
                if p.startswith("Endpoint=")
            ),
            "",
        )
        return urlsplit(endpoint).netloc or "connection string"

    @property
    def durable_checkpoints(self) -> bool:
        return bool(self.storage_account or self.storage_connection_string)

    def require_checkpoint_store(self, hub: str, group: str) -> None:
        """Refuse a consumer that would keep its checkpoints in memory without an explicit opt-in.

        Raises:
            ConfigError: no storage setting, ``allow_memory_checkpoints`` off, and ``group`` is
                not the throwaway ``diagnostics`` group.
        """
        if self.durable_checkpoints or self.allow_memory_checkpoints or group in MEMORY_CHECKPOINT_GROUPS:
            return
        raise ConfigError(
            f"the Event Hubs consumer of {hub}/{group} has no checkpoint store, so a restart would lose "
            "its position: set AZURE_STORAGE_CONNECTION_STRING, STORAGE_ACCOUNT or BLOB_URL=az://<account> "
            f"(checkpoints go to its {self.checkpoint_container} container), or set "
            "EH_ALLOW_MEMORY_CHECKPOINTS=1 to accept checkpoints that are lost on restart"
        )
