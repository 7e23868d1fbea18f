"""``ai-trader azure``: the credential choice of ``verify`` and the ``deploy`` sequence."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.azure_ops.credentials import LOOPBACK_TOKEN, LoopbackCredential, is_loopback_url, make_credential
from app.azure_ops.deploy import deployment_commands
from app.cli.main import app as cli
from app.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
PARAMS = ROOT / "infra" / "env" / "prod.parameters.json"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("https://127.0.0.1:8443", True),
        ("https://127.8.9.10", True),
        ("https://[::1]:9000", True),
        ("https://localhost:443", True),
        ("https://management.azure.com", False),
        ("https://10.0.0.4", False),
        ("https://127.0.0.1.example.com", False),
        ("not a url", False),
    ],
)
def test_loopback_means_this_machine_only(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_the_loopback_credential_is_refused_for_a_remote_endpoint() -> None:
    with pytest.raises(ConfigError, match=r"refused for 'management\.azure\.com'"):
        make_credential("loopback", arm_url="https://management.azure.com", local_dev=False)
    credential = make_credential("loopback", arm_url="https://127.0.0.1:1", local_dev=False)
    assert isinstance(credential, LoopbackCredential)
    assert credential.get_token("https://management.azure.com/.default").token == LOOPBACK_TOKEN


def test_auto_picks_the_cli_login_under_local_dev_and_an_unknown_kind_is_named() -> None:
    from azure.identity import AzureCliCredential, DefaultAzureCredential

    arm = "https://management.azure.com"
    assert isinstance(make_credential("auto", arm_url=arm, local_dev=True), AzureCliCredential)
    assert isinstance(make_credential("auto", arm_url=arm, local_dev=False), DefaultAzureCredential)
    assert isinstance(make_credential("cli", arm_url=arm, local_dev=False), AzureCliCredential)
    with pytest.raises(ConfigError, match="unknown credential 'token'"):
        make_credential("token", arm_url=arm, local_dev=False)


def test_verify_with_the_loopback_credential_against_azure_exits_2_before_any_call(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["azure", "verify", "--subscription", "sub", "--parameters", str(PARAMS), "--report",
         str(tmp_path / "r.json"), "--credential", "loopback"],
        env={"DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "only an ARM endpoint on 127.0.0.0/8" in result.output
    assert not (tmp_path / "r.json").exists()


def test_the_deploy_sequence_creates_the_registry_before_pushing_and_never_holds_a_secret() -> None:
    steps = deployment_commands(
        resource_group="ai-trader-rg", parameters=PARAMS, registry="aitraderacr", image_tag="2026.12.05-1",
        api_app="ai-trader-api", ui_app="ai-trader-ui", secret_expiry_days=365,
    )  # fmt: skip
    shells = [s.shell for s in steps]
    registry = next(i for i, s in enumerate(shells) if "infra/modules/registry.bicep" in s)
    build = next(i for i, s in enumerate(shells) if s.startswith("az acr build -r aitraderacr"))
    deploy = next(i for i, s in enumerate(shells) if "infra/main.bicep" in s and "--what-if" not in s)
    assert registry < build < deploy
    assert "-t ai-trader:2026.12.05-1 ." in shells[build]
    assert '"$PG_ADMIN_PASSWORD"' in shells[deploy] and '"$API_BEARER_TOKEN"' in shells[deploy]
    assert shells[-1].startswith("az webapp restart")


@pytest.mark.parametrize("tag", ["", "v1;rm -rf /", "a b", "$(x)"])
def test_an_image_tag_that_is_not_a_plain_name_is_refused(tag: str) -> None:
    with pytest.raises(ConfigError, match="image tag"):
        deployment_commands(
            resource_group="rg", parameters=PARAMS, registry="r", image_tag=tag, api_app="a", ui_app="u",
            secret_expiry_days=365,
        )  # fmt: skip
