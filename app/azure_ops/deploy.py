"""The deployment sequence behind ``ai-trader azure deploy`` (docs/howto/operations/deploy.md).

Secrets never appear in the commands: the PostgreSQL password and the API token are read from
the environment variables ``PG_ADMIN_PASSWORD`` and ``API_BEARER_TOKEN`` of the shell running them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from app.errors import ConfigError

__all__ = ["Step", "deployment_commands"]


@dataclass(frozen=True, slots=True)
class Step:
    why: str
    shell: str


def deployment_commands(
    *,
    resource_group: str,
    parameters: Path,
    registry: str,
    image_tag: str,
    api_app: str,
    ui_app: str,
    secret_expiry_days: int,
) -> list[Step]:
    """Registry, image build and push, infra/main.bicep with the parameters, web app restarts."""
    if not image_tag or any(
        c not in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-" for c in image_tag
    ):
        raise ConfigError(f"image tag {image_tag!r} may hold only letters, digits, '.', '_' and '-'")
    if not parameters.exists():
        raise ConfigError(f"parameter file {parameters} does not exist")
    rg, q = shlex.quote(resource_group), shlex.quote
    image = f"ai-trader:{image_tag}"
    expiry = f"$(date -d '+{secret_expiry_days} days' +%s)"
    deployment = (
        f"az deployment group create -g {rg} -n ai-trader -f infra/main.bicep -p @{q(str(parameters))} "
        f'-p imageTag={q(image_tag)} -p postgresAdminPassword="$PG_ADMIN_PASSWORD" '
        f'-p apiBearerToken="$API_BEARER_TOKEN" -p uiOperatorPasswordHash="$UI_OPERATOR_PASSWORD_HASH" '
        f"-p secretExpiry={expiry}"
    )
    return [
        Step(
            "the secrets come from the environment, never from the command line",
            ': "${PG_ADMIN_PASSWORD:?set PG_ADMIN_PASSWORD}" "${API_BEARER_TOKEN:?set API_BEARER_TOKEN}"',
        ),
        Step(
            "the registry first: the image must be in it before the apps and jobs reference it",
            f"az deployment group create -g {rg} -n ai-trader-registry -f infra/modules/registry.bicep "
            f'-p name={q(registry)} -p location="$(az group show -n {rg} --query location -o tsv)"',
        ),
        Step(
            "build the image in the registry (no local Docker needed)",
            f"az acr build -r {q(registry)} -t {q(image)} .",
        ),
        Step("preview what the deployment changes", f"{deployment} --what-if"),
        Step("deploy every resource, role, secret and app setting", deployment),
        Step(
            "restart the web apps so their Key Vault references resolve with the new roles",
            f"az webapp restart -g {rg} -n {q(api_app)} && az webapp restart -g {rg} -n {q(ui_app)}",
        ),
    ]
