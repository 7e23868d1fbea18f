"""infra/ (Bicep, parsed with pycep, the parser checkov itself uses) agrees with the code.

The Bicep CLI (a .NET binary) cannot be installed here, so `bicep build` is not run; every
template must at least parse, and the values the code depends on are compared with the code.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pycep import BicepParser

from app.api.app import create_app
from app.azure_ops.grants import IDENTITIES, REQUIRED_GRANTS, ROLE_IDS, Grant
from app.bus.topology import topology
from app.cli.ui import streamlit_argv
from app.config import Settings

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"


@cache
def _parse(relative: str) -> dict[str, Any]:
    return BicepParser().parse(file_path=INFRA / relative)  # type: ignore[no-any-return]


def _var(relative: str, name: str) -> Any:
    return _parse(relative)["variables"][name]["value"]


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def _text(relative: str) -> str:
    return (INFRA / relative).read_text()


@pytest.mark.parametrize("path", sorted(p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")))
def test_every_template_parses(path: str) -> None:
    parsed = _parse(path)
    assert parsed.get("resources") or parsed.get("modules")


def test_every_module_referenced_by_main_exists() -> None:
    modules = _parse("main.bicep")["modules"]
    for module in modules.values():
        assert (INFRA / module["detail"]["path"]).exists(), module["detail"]["path"]


def test_hubs_partitions_retention_and_groups_equal_the_topology() -> None:
    expected = {h.name: (h.partitions, h.retention_hours) for h in topology(Settings(_env_file=None))}  # type: ignore[call-arg]
    hubs = {h["name"]: (h["partitions"], h["retentionHours"]) for h in _var("main.bicep", "hubs")}
    assert hubs == expected
    groups = _var("main.bicep", "consumerGroups")
    assert tuple(groups) == topology(Settings(_env_file=None))[0].consumer_groups  # type: ignore[call-arg]
    assert "'Standard'" in _text("modules/eventhubs.bicep")


def test_containers_equal_the_settings_defaults() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert set(_var("main.bicep", "containers")) == {
        settings.BLOB_CONTAINER_DATA,
        settings.BLOB_CONTAINER_MODELS,
        settings.CHECKPOINT_CONTAINER,
        settings.BLOB_CONTAINER_CONFIGS,
    }


def _params(relative: str) -> dict[str, Any]:
    return {name: _unquote(p.get("default")) for name, p in _parse(relative)["parameters"].items()}


def test_probe_paths_are_routes_the_api_and_ui_serve(make_settings: Any) -> None:
    frontdoor = _params("modules/frontdoor.bicep")
    webapps = _params("modules/webapps.bicep")
    client = TestClient(create_app(make_settings()))
    assert client.get(frontdoor["apiProbePath"]).status_code == 200
    assert client.get(webapps["apiHealthCheckPath"]).status_code == 200
    # Streamlit serves the dashboard and its health endpoint under the base path "ui"
    argv = streamlit_argv(make_settings(), "0.0.0.0")
    base = "/" + argv[argv.index("--server.baseUrlPath") + 1] + "/"
    assert frontdoor["uiProbePath"] == base
    assert webapps["uiHealthCheckPath"] == base + "_stcore/health"


def test_routes_match_the_runbook() -> None:
    routes = {r["name"]: r for r in _var("modules/frontdoor.bicep", "routes")}
    assert set(routes) == {"route-api", "route-ui", "route-ui-prefix"}
    assert routes["route-ui"]["originPath"] == "/ui/"
    assert routes["route-ui-prefix"]["patterns"] == ["/ui", "/ui/*"]
    assert routes["route-ui-prefix"]["originPath"] is None
    assert "linkToDefaultDomain: 'Enabled'" in _text("modules/frontdoor.bicep")
    main = _params("main.bicep")
    assert main["frontDoorProfileName"] == "fd-ai-trader"
    assert main["frontDoorEndpointName"] == "fd-ai-trader-endpoint"
    assert main["eventHubsNamespaceName"] == "ai-trader-ehns"


def test_access_restrictions_follow_the_runbook() -> None:
    rule = _var("modules/webapps.bicep", "frontDoorRule")
    assert (rule["name"], rule["tag"], rule["ipAddress"], rule["priority"]) == (
        "Allow-FD-Backend",
        "ServiceTag",
        "AzureFrontDoor.Backend",
        100,
    )
    assert "'x-azure-fdid'" in rule["headers"]
    assert _var("modules/webapps.bicep", "officeRule")["priority"] == 110
    text = _text("modules/webapps.bicep")
    assert text.count("ipSecurityRestrictionsDefaultAction: 'Deny'") == 2
    assert text.count("scmIpSecurityRestrictionsUseMain: true") == 2
    assert text.count("alwaysOn: true") == 2


def test_postgres_is_b1ms_32gb_with_tls_required() -> None:
    text = _text("modules/postgres.bicep")
    assert "name: 'Standard_B1ms'" in text
    assert "storageSizeGB: 32" in text
    assert "name: 'require_secure_transport'" in text and "value: 'on'" in text


def _bicep_grants() -> set[Grant]:
    scopes = {
        "namespaceGrants": lambda g: "namespace",
        "hubGrants": lambda g: f"hub:{g['hub']}",
        "containerGrants": lambda g: f"container:{g['container']}",
        "vaultGrants": lambda g: "vault",
        "registryGrants": lambda g: "registry",
        "jobGrants": lambda g: f"job:{g['job']}",
    }
    return {
        Grant(g["identity"], g["role"], scope(g))
        for name, scope in scopes.items()
        for g in _var("main.bicep", name)
    }


def test_grants_cover_every_identity_that_uses_a_resource() -> None:
    granted = _bicep_grants()
    assert granted >= REQUIRED_GRANTS, sorted(map(str, REQUIRED_GRANTS - granted))
    assert {g.identity for g in granted} == set(IDENTITIES)
    principals = _var("main.bicep", "principals")
    assert set(principals) == set(IDENTITIES)
    role_ids = {_unquote(k): v for k, v in _var("modules/grants.bicep", "roleIds").items()}
    assert role_ids == ROLE_IDS
    assert {g.role for g in granted} <= set(ROLE_IDS)


# --- app settings and job environments -------------------------------------------------------

_NOT_SETTINGS = {
    "AI_TRADER_COMPONENT",  # app/observability.py
    "AZURE_CLIENT_ID",  # read by azure-identity itself
    "IDLE_EXIT_SECONDS",  # consumer entry points
    "WEBSITES_ENABLE_APP_SERVICE_STORAGE",  # App Service platform
}


SAMPLES = {
    "storage": "aitraderblobstore",
    "eventHubs": "ai-trader-ehns.servicebus.windows.net",
    "frontDoorProfile": "fd-ai-trader-endpoint-abc.z01.azurefd.net",
    "identities": "00000000-0000-0000-0000-000000000000",
    "resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/jobs/ai-trader-sweep",
}
"""Stand-ins for values only Azure knows, by the module or function they come from."""

SECRETS = {
    "database-url": "postgresql://u:p@pg.example.net/aitrader?sslmode=require",
    "api-bearer-token": "0123456789abcdef0123456789abcdef",
    "ui-operator-password-hash": "scrypt$16384$8$1$" + "00" * 16 + "$" + "11" * 32,
}
"""What App Service puts in place of each Key Vault reference once it resolves."""


def _evaluate(node: Any) -> Any:
    """Evaluate the few Bicep expressions main.bicep uses for settings (pycep's JSON form)."""
    variables = _parse("main.bicep")["variables"]
    if isinstance(node, str):
        if node in variables:
            return _evaluate(variables[node]["value"])
        text = re.sub(r"\$\{(\w+)[^}]*\}", lambda m: str(_evaluate(m.group(1))), node)
        reference = re.fullmatch(r"@Microsoft\.KeyVault\(SecretUri=.*secrets/([\w-]+)/\)", text)
        return SECRETS[reference.group(1)] if reference else text
    if isinstance(node, list):
        return [_evaluate(item) for item in node]
    if isinstance(node, dict) and "function" in node:
        function = node["function"]
        args = [_evaluate(a) for a in function["parameters"].values()]
        if function["type"] == "union":
            return {k: v for arg in args for k, v in arg.items()}
        if function["type"] == "concat":
            return [item for arg in args for item in arg]
        return SAMPLES[function["type"]]
    if isinstance(node, dict) and "operator" in node:
        return SAMPLES[node["operator"]["operands"]["operand_1"]]
    if isinstance(node, dict):
        return {k: _evaluate(v) for k, v in node.items()}
    return node


def _web_app_env(which: str) -> dict[str, str]:
    params = _parse("main.bicep")["modules"]["webApps"]["config"]["params"]
    env = {key: str(value) for key, value in _evaluate(params[f"{which}Settings"]).items()}
    env["WEBSITES_PORT"] = str(_params("modules/webapps.bicep")[f"{which}Port"])
    return env


def _job_env(which: str) -> dict[str, str]:
    items = _evaluate(_parse("main.bicep")["modules"]["containerApps"]["config"]["params"]["env"][which])
    return {
        item["name"]: SECRETS[item["secretRef"]] if "secretRef" in item else str(item["value"])
        for item in items
    }


WORKLOADS = ["api", "ui", "sweepJob", "orderConsumer", "sweepConsumer", "scheduler"]


def _env(workload: str) -> dict[str, str]:
    return _web_app_env(workload) if workload in ("api", "ui") else _job_env(workload)


def _settings(env: dict[str, str], make_settings: Any) -> Settings:
    known = {k: v for k, v in env.items() if k in Settings.model_fields}
    return make_settings(**known)  # type: ignore[no-any-return]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_key_given_is_a_setting_or_a_known_platform_key(workload: str) -> None:
    unknown = set(_env(workload)) - set(Settings.model_fields) - _NOT_SETTINGS
    assert not unknown, f"{workload}: {sorted(unknown)}"


@pytest.mark.parametrize("workload", WORKLOADS)
def test_env_selects_the_azure_backends_the_process_uses(workload: str, make_settings: Any) -> None:
    env = _env(workload)
    settings = _settings(env, make_settings)
    assert env["AI_TRADER_COMPONENT"]
    assert settings.blob_backend.kind == "azure", workload
    if workload != "ui":  # the dashboard reads orders through the API
        assert settings.database_backend.kind == "postgresql", workload
    if workload in ("api", "orderConsumer", "sweepConsumer", "scheduler"):
        assert settings.bus_backend.kind == "eventhubs", workload
        assert settings.checkpoint_backend.kind == "azure", workload
    if workload == "sweepConsumer":
        assert settings.sweep_dispatch_backend.kind == "aca"
        assert settings.EH_CONSUMER_GROUP_SWEEP == "sweeper"
    if workload == "orderConsumer":
        assert settings.EH_CONSUMER_GROUP == "orchestrator"
    if workload == "ui":
        assert settings.API_BASE_URL and settings.API_BEARER_TOKEN is not None
    if workload == "api":
        assert settings.API_BEARER_TOKEN is not None  # required to listen on 0.0.0.0
        assert settings.UI_BASE_URL and settings.UI_BASE_URL.endswith("/ui/")
    if workload in ("api", "ui"):
        assert settings.WEBSITES_PORT is not None


def test_parameter_files_name_only_declared_parameters() -> None:
    declared = set(_parse("main.bicep")["parameters"])
    required = {n for n, p in _parse("main.bicep")["parameters"].items() if p.get("default") is None}
    secure = {  # given at deploy time
        "postgresAdminPassword",
        "apiBearerToken",
        "uiOperatorPasswordHash",
        "imageTag",
        "secretExpiry",
    }
    files = sorted((INFRA / "env").glob("*.parameters.json"))
    assert {f.name for f in files} >= {"dev.parameters.json", "prod.parameters.json"}
    for path in files:
        given = set(json.loads(path.read_text())["parameters"])
        assert given <= declared, (path.name, given - declared)
        assert required - secure <= given, (path.name, required - secure - given)
        assert not given & secure, f"{path.name} must not hold secrets"
