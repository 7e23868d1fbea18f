# ruff: noqa: E501  (recorded ARM responses keep one resource per line)
"""``ai-trader azure verify`` through the real management SDKs against recorded ARM responses
(documented shapes) served by a local HTTPS server, and the smoke routes against the real API."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn

from app.api.app import create_app
from app.azure_ops.credentials import LOOPBACK_TOKEN
from app.azure_ops.grants import IDENTITIES, REQUIRED_GRANTS, ROLE_IDS
from app.azure_ops.verify import AzureNames, verify
from app.bootstrap import build_database
from app.bus.topology import topology
from app.config import Settings
from tests.integration.sweeps.arm_server import _certificate
from tests.integration.sweeps.conftest import StaticCredential

SUB, RG = "00000000-0000-0000-0000-000000000001", "ai-trader-rg"
PARAMS = Path(__file__).resolve().parents[3] / "infra" / "env" / "prod.parameters.json"
NAMES = AzureNames.from_parameters(PARAMS, SUB, RG)
BASE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers"
PRINCIPALS = {key: f"principal-{key}" for key in IDENTITIES}


def _scope(scope: str) -> str:
    kind, _, name = scope.partition(":")
    ns = f"{BASE}/Microsoft.EventHub/namespaces/{NAMES.eventhubs_namespace}"
    return {
        "namespace": ns,
        "hub": f"{ns}/eventhubs/{name}",
        "container": f"{BASE}/Microsoft.Storage/storageAccounts/{NAMES.storage_account}/blobServices/default/containers/{name}",
        "vault": f"{BASE}/Microsoft.KeyVault/vaults/{NAMES.key_vault}",
        "registry": f"{BASE}/Microsoft.ContainerRegistry/registries/{NAMES.registry}",
        "job": f"{BASE}/Microsoft.App/jobs/{name}",
    }[kind]


def healthy_state() -> dict[str, Any]:
    """Resources as ARM returns them for a deployment of infra/main.bicep."""
    hubs = topology(Settings(_env_file=None))  # type: ignore[call-arg]
    ns = f"{BASE}/Microsoft.EventHub/namespaces/{NAMES.eventhubs_namespace}"
    fd = f"{BASE}/Microsoft.Cdn/profiles/{NAMES.frontdoor_profile}/afdEndpoints/{NAMES.frontdoor_endpoint}"
    restriction = {
        "ipSecurityRestrictions": [
            {"ipAddress": "AzureFrontDoor.Backend", "action": "Allow", "tag": "ServiceTag", "priority": 100,
             "name": "Allow-FD-Backend", "headers": {"x-azure-fdid": ["5b2c-fdid"]}},
            {"ipAddress": "Any", "action": "Deny", "priority": 2147483647, "name": "Deny all"},
        ],
        "ipSecurityRestrictionsDefaultAction": "Deny",
        "scmIpSecurityRestrictionsUseMain": True,
    }  # fmt: skip
    routes = [
        {"name": "route-api", "patternsToMatch": ["/*"], "originPath": None},
        {"name": "route-ui", "patternsToMatch": ["/ui/"], "originPath": "/ui/"},
        {"name": "route-ui-prefix", "patternsToMatch": ["/ui", "/ui/*"], "originPath": None},
    ]
    state: dict[str, Any] = {
        f"{ns}/eventhubs": {
            "value": [
                {"id": f"{ns}/eventhubs/{h.name}", "name": h.name,
                 "type": "Microsoft.EventHub/namespaces/eventhubs",
                 "properties": {"partitionCount": h.partitions, "status": "Active",
                                "retentionDescription": {"cleanupPolicy": "Delete",
                                                         "retentionTimeInHours": h.retention_hours}}}
                for h in hubs
            ]
        },
        fd: {"name": NAMES.frontdoor_endpoint, "location": "Global",
             "properties": {"hostName": "fd-ai-trader-endpoint-h5c.z01.azurefd.net", "enabledState": "Enabled"}},
        f"{fd}/routes": {"value": [
            {"name": r["name"], "id": f"{fd}/routes/{r['name']}",
             "properties": {"patternsToMatch": r["patternsToMatch"], "originPath": r["originPath"],
                            "linkToDefaultDomain": "Enabled", "httpsRedirect": "Enabled"}}
            for r in routes
        ]},
    }  # fmt: skip
    for h in hubs:
        state[f"{ns}/eventhubs/{h.name}/consumergroups"] = {
            "value": [{"name": g, "properties": {}} for g in h.consumer_groups]
        }
    for key, app in (("api", NAMES.api_app), ("ui", NAMES.ui_app)):
        site = f"{BASE}/Microsoft.Web/sites/{app}"
        state[site] = {"name": app, "location": "eastus",
                       "identity": {"type": "SystemAssigned", "principalId": PRINCIPALS[key], "tenantId": "t"},
                       "properties": {}}  # fmt: skip
        state[f"{site}/config/web"] = {"name": "web", "properties": dict(restriction)}
    for key, resource in (
        ("orderConsumer", "jobs/ai-trader-order-consumer"),
        ("sweepConsumer", "jobs/ai-trader-sweep-consumer"),
        ("jobs", "jobs/ai-trader-sweep"),
        ("scheduler", "containerApps/ai-trader-scheduler"),
    ):
        identity = f"{BASE}/Microsoft.ManagedIdentity/userAssignedIdentities/{IDENTITIES[key]}"
        state[f"{BASE}/Microsoft.App/{resource}"] = {
            "name": resource.split("/")[1], "location": "eastus",
            "identity": {"type": "UserAssigned",
                         "userAssignedIdentities": {identity: {"principalId": PRINCIPALS[key], "clientId": "c"}}},
            "properties": {},
        }  # fmt: skip
    state["assignments"] = [
        {"id": f"{_scope(g.scope)}/providers/Microsoft.Authorization/roleAssignments/{i}", "name": str(i),
         "properties": {"principalId": PRINCIPALS[g.identity], "scope": _scope(g.scope),
                        "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ROLE_IDS[g.role]}"}}
        for i, g in enumerate(sorted(REQUIRED_GRANTS, key=str))
    ]  # fmt: skip
    return state


class Arm:
    def __init__(self, folder: Path) -> None:
        self.state = healthy_state()
        cert, key = _certificate(folder)
        self.ca_file = cert
        arm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments":
                    wanted = parse_qs(parts.query)["$filter"][0].split("'")[1]
                    body: Any = {"value": [a for a in arm.state["assignments"]
                                           if a["properties"]["principalId"] == wanted]}  # fmt: skip
                elif parts.path in arm.state:
                    body = arm.state[parts.path]
                else:
                    body = {"error": {"code": "ResourceNotFound", "message": f"{parts.path} not found"}}
                data = json.dumps(body).encode()
                self.send_response(404 if "error" in body else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[Arm]:
    server = Arm(tmp_path)
    yield server
    server.close()


@pytest.fixture
def api_url(make_settings: Any) -> Iterator[str]:
    """The real API (embedded defaults, database migrated as a deployment's is) on a loopback
    port: the smoke routes' target."""
    settings = make_settings()
    database = build_database(settings)
    database.upgrade()
    database.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _run(arm: Arm, api_url: str) -> list[Any]:
    return verify(
        NAMES, topology(Settings(_env_file=None)), StaticCredential(),  # type: ignore[call-arg]
        arm_base_url=arm.url, connection_verify=str(arm.ca_file), public_base_url=api_url,
    )  # fmt: skip


def test_a_deployment_as_the_templates_describe_it_passes_every_check(arm: Arm, api_url: str) -> None:
    checks = _run(arm, api_url)
    assert [c for c in checks if not c.ok] == []
    steps = {c.step for c in checks}
    assert steps == {"event hub", "consumer groups", "front door endpoint", "front door route",
                     "access restriction", "role assignment", "smoke route"}  # fmt: skip
    assert sum(c.step == "role assignment" for c in checks) == len(REQUIRED_GRANTS)
    assert {c.target for c in checks if c.step == "smoke route"} == {
        "/",
        "/ui",
        "/health/live",
        "/docs",
        "/health/ready",
    }


def _failing(checks: list[Any]) -> dict[str, str]:
    return {c.target: c.detail for c in checks if not c.ok}


def test_wrong_retention_missing_group_and_route_origin_path_fail(arm: Arm, api_url: str) -> None:
    ns = f"{BASE}/Microsoft.EventHub/namespaces/{NAMES.eventhubs_namespace}"
    arm.state[f"{ns}/eventhubs"]["value"][3]["properties"]["retentionDescription"]["retentionTimeInHours"] = (
        24
    )
    arm.state[f"{ns}/eventhubs/exec.orders/consumergroups"]["value"].pop()
    fd = f"{BASE}/Microsoft.Cdn/profiles/{NAMES.frontdoor_profile}/afdEndpoints/{NAMES.frontdoor_endpoint}"
    arm.state[f"{fd}/routes"]["value"][1]["properties"]["originPath"] = "/ui"
    arm.state[f"{fd}/routes"]["value"][2]["properties"]["linkToDefaultDomain"] = "Disabled"
    failing = _failing(_run(arm, api_url))
    assert "retention 24 h (want 72 h)" in failing[f"{NAMES.eventhubs_namespace}/backtest.jobs"]
    assert failing[f"{NAMES.eventhubs_namespace}/exec.orders"] == "missing diagnostics"
    assert set(failing) >= {"route-ui", "route-ui-prefix"}


def test_open_access_restrictions_and_a_missing_role_fail(arm: Arm, api_url: str) -> None:
    config = arm.state[f"{BASE}/Microsoft.Web/sites/{NAMES.api_app}/config/web"]["properties"]
    config["ipSecurityRestrictionsDefaultAction"] = "Allow"
    config["scmIpSecurityRestrictionsUseMain"] = False
    config["ipSecurityRestrictions"][0]["priority"] = 300
    arm.state["assignments"] = [
        a for a in arm.state["assignments"] if not a["properties"]["scope"].endswith("/eventhubs/exec.orders")
    ]
    failing = _failing(_run(arm, api_url))
    api = NAMES.api_app
    assert {f"{api}: Allow-FD-Backend", f"{api}: default action", f"{api}: SCM"} <= set(failing)
    assert "orderConsumer: Azure Event Hubs Data Receiver on hub:exec.orders" in failing
    assert "scheduler: Azure Event Hubs Data Sender on hub:exec.orders" in failing


def _verify_cli(
    arm: Arm, api_url: str, folder: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``ai-trader azure verify`` in its own process, signed with the loopback credential."""
    report = folder / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(DATA_DIR=str(folder / "var"), ARTIFACTS_DIR=str(folder / "artifacts"), COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "azure", "verify", "--subscription", SUB, "--resource-group", RG,
         "--parameters", str(PARAMS), "--report", str(report), "--arm-url", arm.url,
         "--ca-file", str(arm.ca_file), "--public-url", api_url, "--credential", "loopback"],
        capture_output=True, text=True, env=env, cwd=folder, timeout=180, check=False,
    )  # fmt: skip
    body = json.loads(report.read_text()) if report.exists() else {}
    return done, body


def test_the_command_passes_a_healthy_deployment_and_writes_a_green_report(
    arm: Arm, api_url: str, tmp_path: Path
) -> None:
    done, body = _verify_cli(arm, api_url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert body["ok"] is True
    assert body["checks"] and all(c["ok"] for c in body["checks"])
    assert sum(c["step"] == "role assignment" for c in body["checks"]) == len(REQUIRED_GRANTS)
    assert f"{len(body['checks'])}/{len(body['checks'])} checks passed" in done.stdout
    assert LOOPBACK_TOKEN not in done.stdout + done.stderr


def test_the_command_exits_1_and_names_each_failure_in_its_report(
    arm: Arm, api_url: str, tmp_path: Path
) -> None:
    ns = f"{BASE}/Microsoft.EventHub/namespaces/{NAMES.eventhubs_namespace}"
    arm.state[f"{ns}/eventhubs"]["value"][3]["properties"]["retentionDescription"]["retentionTimeInHours"] = (
        24
    )
    config = arm.state[f"{BASE}/Microsoft.Web/sites/{NAMES.ui_app}/config/web"]["properties"]
    config["ipSecurityRestrictionsDefaultAction"] = "Allow"
    done, body = _verify_cli(arm, api_url, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert body["ok"] is False
    failing = {c["target"]: c["detail"] for c in body["checks"] if not c["ok"]}
    assert set(failing) == {f"{NAMES.eventhubs_namespace}/backtest.jobs", f"{NAMES.ui_app}: default action"}
    assert "retention 24 h (want 72 h)" in failing[f"{NAMES.eventhubs_namespace}/backtest.jobs"]
    assert failing[f"{NAMES.ui_app}: default action"] == "default Allow"
    assert "FAIL" in done.stdout
    assert f"{len(body['checks']) - 2}/{len(body['checks'])} checks passed" in done.stdout
