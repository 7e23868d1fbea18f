"""Where Event Hubs checkpoints go, and the refusal of a consumer that would keep them in memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.bootstrap import build_eventhubs_config
from app.config import Settings, load_settings
from app.errors import ConfigError

FQDN = "ai-trader-ehns.servicebus.windows.net"


@pytest.mark.parametrize(
    "blob_url",
    [
        "az://aitraderblobstore",
        "az://aitraderblobstore.blob.core.windows.net",
        "abfs://trader-data@aitraderblobstore.dfs.core.windows.net",
    ],
)
def test_checkpoints_use_the_account_of_an_az_blob_url(
    make_settings: Callable[..., Settings], blob_url: str
) -> None:
    settings = make_settings(EH_FQDN=FQDN, BLOB_URL=blob_url)
    config = build_eventhubs_config(settings)
    assert config.storage_account == "aitraderblobstore"
    assert config.durable_checkpoints
    config.require_checkpoint_store("exec.orders", "orchestrator")  # does not raise
    # the blob store resolves to the same account (dead letters share the container)
    assert settings.blob_backend.target == "aitraderblobstore"


def test_storage_account_still_wins_for_checkpoints(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(EH_FQDN=FQDN, BLOB_URL="az://otheraccount", STORAGE_ACCOUNT="aitraderblobstore")
    assert build_eventhubs_config(settings).storage_account == "aitraderblobstore"


@pytest.mark.parametrize("blob_url", ["az://trader-data", "abfs://x@a.dfs.core.windows.net"])
def test_an_az_blob_url_must_name_an_account(monkeypatch: pytest.MonkeyPatch, blob_url: str) -> None:
    monkeypatch.setenv("BLOB_URL", blob_url)
    with pytest.raises(ConfigError, match=r"BLOB_URL: az:// and abfs:// URLs name the storage account"):
        load_settings()


@pytest.mark.parametrize(
    "values",
    [{}, {"BLOB_URL": "file:///srv/blobs"}],
    ids=["no-storage", "local-blob-url"],
)
def test_a_consumer_without_a_checkpoint_store_is_refused(
    make_settings: Callable[..., Settings], values: dict[str, str]
) -> None:
    config = build_eventhubs_config(make_settings(EH_FQDN=FQDN, **values))
    assert not config.durable_checkpoints
    with pytest.raises(ConfigError) as info:
        config.require_checkpoint_store("exec.orders", "orchestrator")
    message = str(info.value)
    assert "\n" not in message
    assert "exec.orders/orchestrator has no checkpoint store" in message
    for key in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "STORAGE_ACCOUNT",
        "BLOB_URL=az://",
        "EH_ALLOW_MEMORY_CHECKPOINTS=1",
    ):
        assert key in message
    config.require_checkpoint_store("exec.orders", "diagnostics")  # the quicksend check's group


def test_memory_checkpoints_are_an_explicit_opt_in(make_settings: Callable[..., Settings]) -> None:
    config = build_eventhubs_config(make_settings(EH_FQDN=FQDN, EH_ALLOW_MEMORY_CHECKPOINTS=True))
    assert config.allow_memory_checkpoints and not config.durable_checkpoints
    config.require_checkpoint_store("backtest.jobs", "sweeper")  # does not raise


@pytest.mark.parametrize(
    ("values", "kind", "account"),
    [
        ({"STORAGE_ACCOUNT": "aitraderblobstore"}, "azure", "aitraderblobstore"),
        ({"BLOB_URL": "az://aitraderblobstore"}, "azure", "aitraderblobstore"),
        (
            {"BLOB_URL": "az://otheraccount", "STORAGE_ACCOUNT": "aitraderblobstore"},
            "azure",
            "aitraderblobstore",
        ),
        ({"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, "azure", None),
        ({"EH_ALLOW_MEMORY_CHECKPOINTS": True}, "memory", None),
        ({}, "none", None),
    ],
)
def test_config_show_reports_the_checkpoint_store_the_bus_uses(
    make_settings: Callable[..., Settings], values: dict[str, object], kind: str, account: str | None
) -> None:
    settings = make_settings(EH_FQDN=FQDN, **values)
    config = build_eventhubs_config(settings)
    backend = settings.checkpoint_backend
    assert backend.kind == kind
    assert config.durable_checkpoints == (kind == "azure")
    assert config.storage_account == account
    if account is not None:
        assert backend.target == f"{account}/eh-checkpoints"
    if kind == "none":
        assert "refused" in backend.reason


def test_other_buses_keep_their_own_checkpoints(make_settings: Callable[..., Settings]) -> None:
    assert make_settings().checkpoint_backend.kind == "local"
    assert make_settings(REDIS_URL="redis://127.0.0.1:6379/0").checkpoint_backend.kind == "redis"
