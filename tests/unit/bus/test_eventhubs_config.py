"""Event Hubs settings: connection string vs namespace + credential, checkpoint storage."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.bootstrap import build_eventhubs_config
from app.config import Settings
from app.errors import ConfigError


def test_connection_string_drops_entity_path(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        EH_CONNECTION_STRING="Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;"
        "SharedAccessKey=v;EntityPath=exec.orders"
    )
    config = build_eventhubs_config(settings)
    assert config.connection_string is not None
    assert "EntityPath" not in config.connection_string
    assert config.namespace_label == "ns.servicebus.windows.net"
    assert not config.durable_checkpoints
    assert "SharedAccessKey=v" not in repr(config)


def test_fqdn_with_storage_account_uses_credentials(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        EH_FQDN="ai-trader-ehns.servicebus.windows.net", STORAGE_ACCOUNT="aitraderblobstore", LOCAL_DEV=True
    )
    config = build_eventhubs_config(settings)
    assert config.fully_qualified_namespace == "ai-trader-ehns.servicebus.windows.net"
    assert config.use_cli_credential
    assert config.durable_checkpoints
    assert config.checkpoint_container == "eh-checkpoints"
    assert settings.bus_backend.kind == "eventhubs"


def test_bus_url_names_the_namespace(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(BUS_URL="eventhubs://other.servicebus.windows.net")
    assert build_eventhubs_config(settings).fully_qualified_namespace == "other.servicebus.windows.net"


def test_missing_namespace_is_a_config_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="EH_FQDN"):
        build_eventhubs_config(make_settings())
