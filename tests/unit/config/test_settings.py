from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.config import Settings, load_settings, mask_url
from app.errors import ConfigError


def test_no_keys_resolve_to_embedded_defaults(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    assert settings.database_backend.kind == "sqlite"
    assert settings.blob_backend.kind == "local"
    assert settings.bus_backend.kind == "local"
    assert settings.EH_HUB_BARS == "bars.raw"
    assert settings.EH_HUB_SIGNALS == "signals.enriched"
    assert settings.EH_HUB_REGIMES == "regimes.snapshot"
    assert settings.EH_HUB_JOBS == "backtest.jobs"
    assert settings.EH_HUB_ORDERS == "exec.orders"
    assert settings.EH_CONSUMER_GROUP == "orchestrator"
    assert settings.EH_CONSUMER_GROUP_SWEEP == "sweeper"
    assert settings.CHECKPOINT_CONTAINER == "eh-checkpoints"
    assert settings.api_port == 8000


def test_environment_wins_over_dotenv_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("EH_HUB_ORDERS=from-dotenv\nEH_HUB_JOBS=jobs-dotenv\nPORT=9001\n")
    (tmp_path / ".env.dev").write_text("EH_HUB_JOBS=jobs-dev\n")
    monkeypatch.setenv("EH_HUB_ORDERS", "from-env")
    settings = load_settings()
    assert settings.EH_HUB_ORDERS == "from-env"
    assert settings.EH_HUB_JOBS == "jobs-dev"  # .env.dev overrides .env
    assert settings.PORT == 9001


def test_websites_port_wins_over_port(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(PORT=9000, WEBSITES_PORT=8080).api_port == 8080
    assert make_settings(PORT=9000).api_port == 9000


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PORT", "-1", "PORT"),
        ("WEBSITES_PORT", "70000", "WEBSITES_PORT"),
        ("DATABASE_URL", "mysql://x@h/db", "DATABASE_URL"),
        ("DATABASE_URL", "postgresql://user:pw@:notaport/db", "DATABASE_URL"),
        ("REDIS_URL", "http://localhost", "REDIS_URL"),
        ("EH_FQDN", "https://ns.servicebus.windows.net", "EH_FQDN"),
        ("YAHOO_BASE_URL", "not a url", "YAHOO_BASE_URL"),
        ("CHECKPOINT_CONTAINER", "EH", "CHECKPOINT_CONTAINER"),
        ("RISK_MAX_POSITION_FRACTION", "1.5", "RISK_MAX_POSITION_FRACTION"),
    ],
)
def test_malformed_value_fails_with_one_line_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("invalid configuration: ")
    assert expected in message


def test_database_url_password_never_appears_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://user:hunter2@host/db")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "hunter2" not in str(info.value)


def test_public_dict_masks_every_secret(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        DATABASE_URL="postgresql://trader:s3cret@db.example.com:5432/ai?sslmode=require",
        API_BEARER_TOKEN="tok-123",
        ALPACA_API_KEY="AKID",
        ALPACA_API_SECRET="alpaca-secret",
        ALPHAVANTAGE_API_KEY="av-key",
        FINNHUB_API_KEY="fh-key",
        TWELVEDATA_API_KEY="td-key",
        REDIS_URL="redis://:redispw@127.0.0.1:6379/0",
    )
    shown = repr(settings) + str(settings.public_dict())
    for secret in ("s3cret", "tok-123", "AKID", "alpaca-secret", "av-key", "fh-key", "td-key", "redispw"):
        assert secret not in shown
    assert settings.public_dict()["API_BEARER_TOKEN"] == "***"
    assert (
        settings.database_backend.target == "postgresql://trader:***@db.example.com:5432/ai?sslmode=require"
    )


def test_mask_url_leaves_urls_without_password_alone() -> None:
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert mask_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    ("values", "kind", "why"),
    [
        ({"BUS_URL": "redis://127.0.0.1:6379/0"}, "redis", "BUS_URL"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "redis", "REDIS_URL"),
        ({"EH_FQDN": "ai-trader-ehns.servicebus.windows.net"}, "eventhubs", "EH_FQDN"),
        ({"EH_FQDN": "ns.servicebus.windows.net", "BUS_URL": "local:///tmp/bus.db"}, "local", "BUS_URL"),
    ],
)
def test_bus_backend_resolution_says_why(
    make_settings: Callable[..., Settings], values: dict[str, str], kind: str, why: str
) -> None:
    backend = make_settings(**values).bus_backend
    assert backend.kind == kind
    assert why in backend.reason


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ({"STORAGE_ACCOUNT": "aitraderblobstore"}, "azure"),
        ({"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, "azure"),
        ({"BLOB_URL": "file:///srv/blobs"}, "local"),
    ],
)
def test_blob_backend_resolution(
    make_settings: Callable[..., Settings], values: dict[str, str], kind: str
) -> None:
    assert make_settings(**values).blob_backend.kind == kind


def test_postgres_database_backend(make_settings: Callable[..., Settings]) -> None:
    backend = make_settings(DATABASE_URL="postgresql+psycopg://u@h/db").database_backend
    assert backend.kind == "postgresql"
