"""An App Service Key Vault reference that did not resolve stops start-up instead of becoming a value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import load_settings
from app.errors import ConfigError
from tests.servers import REPO

SECRET_URI = "https://ait-kv.vault.azure.net/secrets/api-bearer-token/"
BY_URI = f"@Microsoft.KeyVault(SecretUri={SECRET_URI})"
BY_NAME = "@Microsoft.KeyVault(VaultName=ait-kv;SecretName=api-bearer-token)"


@pytest.mark.parametrize(
    ("key", "reference", "secret"),
    [
        ("API_BEARER_TOKEN", BY_URI, True),
        ("API_BEARER_TOKEN", BY_NAME, True),
        ("DATABASE_URL", BY_URI, True),  # has its own URL validator; this check runs first
        ("EH_CONNECTION_STRING", "@microsoft.keyvault(SecretUri=" + SECRET_URI + ")", True),
        ("ALPACA_API_SECRET", "  @MICROSOFT.KEYVAULT(VaultName=ait-kv;SecretName=alpaca)", True),
        ("STORAGE_ACCOUNT", BY_URI, False),
        ("EH_FQDN", BY_NAME, False),
        ("PORT", BY_URI, False),  # an int: the message is about the reference, not the type
        ("LOCAL_DEV", BY_NAME, False),
    ],
)
def test_unresolved_reference_is_refused_with_the_key_named(
    monkeypatch: pytest.MonkeyPatch, key: str, reference: str, secret: bool
) -> None:
    monkeypatch.setenv(key, reference)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"invalid configuration: {key}: App Service could not resolve the Key Vault")
    assert "managed identity" in message and "Key Vault Secrets User" in message
    assert "secret exists" in message
    if secret:
        assert "vault.azure.net" not in message and "SecretName" not in message
    else:
        assert reference.strip() in message  # plain settings still show what arrived


def test_every_unresolved_key_is_reported_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_BEARER_TOKEN", BY_URI)
    monkeypatch.setenv("FINNHUB_API_KEY", BY_NAME)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert "API_BEARER_TOKEN: App Service" in message and "FINNHUB_API_KEY: App Service" in message


def test_resolved_values_and_a_reference_inside_a_value_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_BEARER_TOKEN", "tok-@Microsoft.KeyVault(x)")
    monkeypatch.setenv("STORAGE_ACCOUNT", "aitraderblobstore")
    settings = load_settings()
    assert settings.API_BEARER_TOKEN is not None
    assert settings.API_BEARER_TOKEN.get_secret_value() == "tok-@Microsoft.KeyVault(x)"
    assert settings.STORAGE_ACCOUNT == "aitraderblobstore"


def test_start_up_exits_2_without_printing_the_secret_uri(tmp_path: Path) -> None:
    env = {**os.environ, "API_BEARER_TOKEN": BY_URI, "DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "config", "show"],
        cwd=tmp_path,  # no .env files
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "API_BEARER_TOKEN: App Service could not resolve the Key Vault reference" in done.stderr
    assert SECRET_URI not in done.stderr + done.stdout
