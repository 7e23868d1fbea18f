"""``config show`` names the credential the code really builds, for every backend and LOCAL_DEV value.

Each case builds the real client (adlfs file system, Event Hubs bus, Container Apps management
client) from the same settings and compares the class of the credential it holds with the
reason the settings report. Nothing here reaches the network: the clients sign in lazily.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from app.bootstrap import build_blob_store, build_bus
from app.bus.eventhubs import EventHubsBus
from app.cli.main import app
from app.config import Settings
from app.workers.sweep_job_consumer import container_apps_dispatcher

JOB_ID = "/subscriptions/sub-1/resourceGroups/ai-trader-rg/providers/Microsoft.App/jobs/ai-trader-sweep"
EXPECTED = {False: "DefaultAzureCredential", True: "AzureCliCredential"}


@pytest.mark.parametrize("local_dev", [False, True])
@pytest.mark.parametrize(
    "values",
    [{"STORAGE_ACCOUNT": "aitraderblobstore"}, {"BLOB_URL": "az://aitraderblobstore"}],
    ids=["storage-account", "blob-url"],
)
def test_blob_reason_names_the_credential_the_store_uses(
    make_settings: Callable[..., Settings], values: dict[str, str], local_dev: bool
) -> None:
    settings = make_settings(LOCAL_DEV=local_dev, **values)
    store = build_blob_store(settings)
    used = type(store.fs.credential).__name__
    assert used == EXPECTED[local_dev]
    assert f"({used}" in settings.blob_backend.reason
    assert settings.blob_backend.target == "aitraderblobstore"
    if local_dev:
        assert "DefaultAzureCredential" not in settings.blob_backend.reason
        assert "LOCAL_DEV=1" in settings.blob_backend.reason


@pytest.mark.parametrize("local_dev", [False, True])
@pytest.mark.parametrize(
    "values",
    [
        {"EH_FQDN": "ai-trader-ehns.servicebus.windows.net"},
        {"BUS_URL": "eventhubs://ai-trader-ehns.servicebus.windows.net"},
    ],
    ids=["eh-fqdn", "bus-url"],
)
def test_bus_reason_names_the_credential_the_bus_uses(
    make_settings: Callable[..., Settings], values: dict[str, str], local_dev: bool
) -> None:
    settings = make_settings(LOCAL_DEV=local_dev, **values)
    bus = build_bus(settings)
    try:
        assert isinstance(bus, EventHubsBus)
        used = type(bus._get_credential()).__name__
    finally:
        bus.close()
    assert used == EXPECTED[local_dev]
    assert f"({used}" in settings.bus_backend.reason
    if local_dev:
        assert "DefaultAzureCredential" not in settings.bus_backend.reason


@pytest.mark.parametrize("local_dev", [False, True])
def test_sweep_dispatch_reason_names_the_credential_the_dispatcher_uses(
    make_settings: Callable[..., Settings], local_dev: bool
) -> None:
    settings = make_settings(LOCAL_DEV=local_dev, SWEEP_JOB_RESOURCE_ID=JOB_ID)
    dispatcher = container_apps_dispatcher(settings)
    try:
        used = type(dispatcher.client._config.credential).__name__
    finally:
        dispatcher.close()
    backend = settings.sweep_dispatch_backend
    assert used == EXPECTED[local_dev]
    assert (backend.kind, backend.target) == ("aca", "ai-trader-sweep")
    assert f"({used}" in backend.reason
    assert make_settings().sweep_dispatch_backend.kind == "local"


@pytest.mark.parametrize("local_dev", [False, True])
def test_keys_and_connection_strings_name_no_identity_credential(
    make_settings: Callable[..., Settings], local_dev: bool
) -> None:
    settings = make_settings(
        LOCAL_DEV=local_dev,
        BUS_URL="eventhubs://ai-trader-ehns.servicebus.windows.net",
        EH_CONNECTION_STRING="Endpoint=sb://other.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v",
        STORAGE_ACCOUNT="aitraderblobstore",
        AZURE_STORAGE_CONNECTION_STRING="UseDevelopmentStorage=true",
    )
    bus = build_bus(settings)
    try:
        assert isinstance(bus, EventHubsBus)
        # the connection string wins over the BUS_URL host, as the report says
        assert bus.config.connection_string is not None and bus.config.fully_qualified_namespace is None
    finally:
        bus.close()
    for backend in (settings.bus_backend, settings.blob_backend):
        assert backend.target == "connection string"
        assert "Credential" not in backend.reason
    assert "EH_CONNECTION_STRING is set and wins" in settings.bus_backend.reason


def test_config_show_json_reports_the_cli_credential_under_local_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_DEV", "1")
    monkeypatch.setenv("EH_FQDN", "ai-trader-ehns.servicebus.windows.net")
    monkeypatch.setenv("STORAGE_ACCOUNT", "aitraderblobstore")
    monkeypatch.setenv("SWEEP_JOB_RESOURCE_ID", JOB_ID)
    result = CliRunner().invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    backends = json.loads(result.stdout)["backends"]
    assert set(backends) == {"database", "blob", "bus", "checkpoints", "sweep_dispatch"}
    assert backends["checkpoints"]["target"] == "aitraderblobstore/eh-checkpoints"
    for concern in ("blob", "bus", "checkpoints", "sweep_dispatch"):
        assert "AzureCliCredential, LOCAL_DEV=1" in backends[concern]["reason"]
        assert "DefaultAzureCredential" not in backends[concern]["reason"]
