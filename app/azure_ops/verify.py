"""``ai-trader azure verify``: the runbook's verification steps against ARM and over HTTP.

Each step becomes one :class:`Check` (passed or not, with what was found). The management SDKs
(azure-mgmt-eventhub, -cdn, -web, -appcontainers, -authorization; the ``azure`` extra) are
imported only here, when a verification runs. ``arm_base_url`` and ``connection_verify`` point
them at another endpoint (tests serve recorded ARM responses locally).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx

from app.azure_ops.grants import IDENTITIES, REQUIRED_GRANTS, ROLE_IDS, Grant
from app.bus.topology import HubSpec
from app.errors import ConfigError

__all__ = ["SMOKE_ROUTES", "AzureNames", "Check", "verify", "write_report"]

SMOKE_ROUTES: dict[str, frozenset[int]] = {
    "/": frozenset({200}),
    "/ui": frozenset({200, 301, 302, 307, 308}),
    "/health/live": frozenset({200}),
    "/docs": frozenset({200}),
    "/health/ready": frozenset({200}),
}
"""Path -> accepted status codes (the runbook's smoke routes plus both health probes)."""


@dataclass(frozen=True, slots=True)
class AzureNames:
    """Resource names of one deployment (defaults are infra/main.bicep's)."""

    subscription_id: str
    resource_group: str
    api_app: str
    ui_app: str
    storage_account: str
    key_vault: str
    registry: str
    eventhubs_namespace: str = "ai-trader-ehns"
    frontdoor_profile: str = "fd-ai-trader"
    frontdoor_endpoint: str = "fd-ai-trader-endpoint"

    @classmethod
    def from_parameters(cls, path: Path, subscription_id: str, resource_group: str) -> AzureNames:
        """Read the names from an ``infra/env/*.parameters.json`` file."""
        try:
            raw = json.loads(path.read_text())["parameters"]
            values = {key: entry["value"] for key, entry in raw.items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read deployment parameters from {path}: {exc}") from exc
        mapping = {
            "api_app": "apiAppName",
            "ui_app": "uiAppName",
            "storage_account": "storageAccountName",
            "key_vault": "keyVaultName",
            "registry": "registryName",
            "eventhubs_namespace": "eventHubsNamespaceName",
            "frontdoor_profile": "frontDoorProfileName",
            "frontdoor_endpoint": "frontDoorEndpointName",
        }
        missing = [p for f, p in mapping.items() if p not in values and f not in cls.__dataclass_fields__]
        kwargs = {f: values[p] for f, p in mapping.items() if p in values}
        required = {"api_app", "ui_app", "storage_account", "key_vault", "registry"}
        missing = sorted(mapping[f] for f in required - set(kwargs))
        if missing:
            raise ConfigError(f"{path} does not set {', '.join(missing)}")
        return cls(subscription_id=subscription_id, resource_group=resource_group, **kwargs)


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step and its outcome."""

    step: str
    target: str
    ok: bool
    detail: str


@dataclass
class _Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, step: str, target: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(step, target, ok, detail))

    def guarded(self, step: str, target: str, action: Callable[[], None]) -> None:
        """Run ``action``; an exception becomes a failed check naming the error."""
        try:
            action()
        except Exception as exc:  # every failure of a step is reported, none stops the others
            self.add(step, target, False, f"{type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def _get(obj: Any, name: str) -> Any:
    """An attribute of an SDK model, or None; enum members become their plain value ("Deny")."""
    value = getattr(obj, name, None)
    return value.value if isinstance(value, Enum) else value


def _eventhubs(report: _Report, client: Any, names: AzureNames, hubs: list[HubSpec]) -> None:
    rg, ns = names.resource_group, names.eventhubs_namespace
    found = {hub.name: hub for hub in client.event_hubs.list_by_namespace(rg, ns)}
    for spec in hubs:
        target = f"{ns}/{spec.name}"
        hub = found.get(spec.name)
        if hub is None:
            report.add("event hub", target, False, "missing")
            continue
        retention = _get(_get(hub, "retention_description"), "retention_time_in_hours")
        partitions = _get(hub, "partition_count")
        ok = partitions == spec.partitions and retention == spec.retention_hours
        report.add(
            "event hub",
            target,
            ok,
            f"partitions {partitions} (want {spec.partitions}), retention {retention} h "
            f"(want {spec.retention_hours} h)",
        )

        def groups(spec: HubSpec = spec, target: str = target) -> None:
            have = {g.name for g in client.consumer_groups.list_by_event_hub(rg, ns, spec.name)}
            missing = [g for g in spec.consumer_groups if g not in have]
            report.add(
                "consumer groups",
                target,
                not missing,
                f"missing {', '.join(missing)}" if missing else ", ".join(spec.consumer_groups),
            )

        report.guarded("consumer groups", target, groups)


def _frontdoor(report: _Report, client: Any, names: AzureNames) -> str | None:
    rg, profile, endpoint_name = names.resource_group, names.frontdoor_profile, names.frontdoor_endpoint
    endpoint = client.afd_endpoints.get(rg, profile, endpoint_name)
    host = _get(endpoint, "host_name")
    report.add("front door endpoint", f"{profile}/{endpoint_name}", bool(host), host or "no hostName")
    routes = {r.name: r for r in client.routes.list_by_endpoint(rg, profile, endpoint_name)}
    for name in ("route-api", "route-ui", "route-ui-prefix"):
        route = routes.get(name)
        if route is None:
            report.add("front door route", name, False, "missing")
            continue
        linked = _get(route, "link_to_default_domain") == "Enabled"
        patterns = list(_get(route, "patterns_to_match") or [])
        origin_path = _get(route, "origin_path")
        ok = linked
        link = _get(route, "link_to_default_domain")
        detail = f"linkToDefaultDomain {link}, patterns {patterns}, originPath {origin_path!r}"
        if name == "route-ui":
            ok = ok and origin_path == "/ui/"
        if name == "route-ui-prefix":
            ok = ok and sorted(patterns) == ["/ui", "/ui/*"] and origin_path is None
        report.add("front door route", name, ok, detail)
    return str(host) if host else None


def _access_restrictions(report: _Report, client: Any, names: AzureNames, app: str) -> None:
    config = client.web_apps.get_configuration(names.resource_group, app)
    rules = list(_get(config, "ip_security_restrictions") or [])
    front_door = [
        r
        for r in rules
        if _get(r, "name") == "Allow-FD-Backend"
        and _get(r, "priority") == 100
        and (_get(r, "tag") or "").lower() == "servicetag"
        and _get(r, "ip_address") == "AzureFrontDoor.Backend"
        and (_get(r, "action") or "Allow") == "Allow"
    ]
    headers = {k.lower(): v for k, v in (_get(front_door[0], "headers") or {}).items()} if front_door else {}
    report.add(
        "access restriction",
        f"{app}: Allow-FD-Backend",
        bool(front_door) and bool(headers.get("x-azure-fdid")),
        "service tag AzureFrontDoor.Backend @ 100 with X-Azure-FDID"
        if front_door and headers.get("x-azure-fdid")
        else "no Allow-FD-Backend rule @ 100 (service tag AzureFrontDoor.Backend, X-Azure-FDID)",
    )
    default = _get(config, "ip_security_restrictions_default_action")
    report.add("access restriction", f"{app}: default action", default == "Deny", f"default {default}")
    use_main = _get(config, "scm_ip_security_restrictions_use_main")
    scm_default = _get(config, "scm_ip_security_restrictions_default_action")
    report.add(
        "access restriction",
        f"{app}: SCM",
        use_main is True or scm_default == "Deny",
        f"scmIpSecurityRestrictionsUseMain {use_main}, SCM default {scm_default}",
    )


def _scope_path(grant: Grant, names: AzureNames) -> str:
    base = f"/subscriptions/{names.subscription_id}/resourceGroups/{names.resource_group}/providers"
    kind, _, name = grant.scope.partition(":")
    namespace = f"{base}/Microsoft.EventHub/namespaces/{names.eventhubs_namespace}"
    paths = {
        "namespace": namespace,
        "hub": f"{namespace}/eventhubs/{name}",
        "container": f"{base}/Microsoft.Storage/storageAccounts/{names.storage_account}"
        f"/blobServices/default/containers/{name}",
        "vault": f"{base}/Microsoft.KeyVault/vaults/{names.key_vault}",
        "registry": f"{base}/Microsoft.ContainerRegistry/registries/{names.registry}",
        "job": f"{base}/Microsoft.App/jobs/{name}",
    }
    return paths[kind].lower()


def _principals(report: _Report, web: Any, apps: Any, names: AzureNames) -> dict[str, str]:
    """Identity key -> principal id, read from the web apps and the Container Apps resources."""
    found: dict[str, str] = {}

    def web_app(key: str, app: str) -> None:
        principal = _get(_get(web.web_apps.get(names.resource_group, app), "identity"), "principal_id")
        if not principal:
            raise ConfigError(f"web app {app} has no system-assigned identity")
        found[key] = str(principal)

    def user_assigned(key: str, resource: Any) -> None:
        identities = _get(_get(resource, "identity"), "user_assigned_identities") or {}
        for identity_id, identity in identities.items():
            if identity_id.lower().endswith("/" + IDENTITIES[key].lower()):
                found[key] = str(_get(identity, "principal_id"))
                return
        raise ConfigError(f"{_get(resource, 'name')} does not carry identity {IDENTITIES[key]}")

    rg = names.resource_group
    sources: list[tuple[str, str, Callable[[], None]]] = [
        ("api", names.api_app, lambda: web_app("api", names.api_app)),
        ("ui", names.ui_app, lambda: web_app("ui", names.ui_app)),
        ("orderConsumer", "ai-trader-order-consumer",
         lambda: user_assigned("orderConsumer", apps.jobs.get(rg, "ai-trader-order-consumer"))),
        ("sweepConsumer", "ai-trader-sweep-consumer",
         lambda: user_assigned("sweepConsumer", apps.jobs.get(rg, "ai-trader-sweep-consumer"))),
        ("jobs", "ai-trader-sweep", lambda: user_assigned("jobs", apps.jobs.get(rg, "ai-trader-sweep"))),
        ("scheduler", "ai-trader-scheduler",
         lambda: user_assigned("scheduler", apps.container_apps.get(rg, "ai-trader-scheduler"))),
    ]  # fmt: skip
    for key, resource, action in sources:
        report.guarded("identity", f"{key} ({resource})", action)
    return found


def _role_assignments(report: _Report, auth: Any, principals: dict[str, str], names: AzureNames) -> None:
    by_id = {role_id: name for name, role_id in ROLE_IDS.items()}
    for key, principal in sorted(principals.items()):
        held: list[tuple[str, str]] = []
        for assignment in auth.role_assignments.list_for_subscription(filter=f"principalId eq '{principal}'"):
            role_id = str(_get(assignment, "role_definition_id") or "").rsplit("/", 1)[-1]
            held.append(
                (by_id.get(role_id, role_id), str(_get(assignment, "scope") or "").lower().rstrip("/"))
            )
        for grant in sorted((g for g in REQUIRED_GRANTS if g.identity == key), key=str):
            wanted = _scope_path(grant, names)
            # an assignment on the scope itself or on any parent of it (inherited) satisfies the grant
            ok = any(role == grant.role and (wanted == s or wanted.startswith(s + "/")) for role, s in held)
            report.add(
                "role assignment",
                f"{key}: {grant.role} on {grant.scope}",
                ok,
                "assigned" if ok else "missing",
            )


def _smoke(report: _Report, base_url: str, timeout_s: float, verify_tls: bool | str) -> None:
    with httpx.Client(
        base_url=base_url, timeout=timeout_s, verify=verify_tls, follow_redirects=False
    ) as http:
        for path, accepted in SMOKE_ROUTES.items():
            try:
                status = http.get(path).status_code
            except httpx.HTTPError as exc:
                report.add("smoke route", path, False, f"{type(exc).__name__}: {_first_line(exc)}")
                continue
            want = "/".join(str(c) for c in sorted(accepted))
            report.add("smoke route", path, status in accepted, f"HTTP {status} (want {want})")


def verify(
    names: AzureNames,
    hubs: list[HubSpec],
    credential: Any,
    *,
    arm_base_url: str = "https://management.azure.com",
    connection_verify: bool | str = True,
    public_base_url: str | None = None,
    http_verify: bool | str = True,
    timeout_s: float = 15.0,
) -> list[Check]:
    """Perform every verification step; never raises for a failing step (it becomes a Check).

    ``public_base_url`` replaces ``https://<Front Door endpoint host>`` for the smoke routes.
    """
    try:
        from azure.mgmt.appcontainers import ContainerAppsAPIClient
        from azure.mgmt.authorization import AuthorizationManagementClient
        from azure.mgmt.cdn import CdnManagementClient
        from azure.mgmt.eventhub import EventHubManagementClient
        from azure.mgmt.web import WebSiteManagementClient
    except ImportError as exc:
        raise ConfigError(
            f"azure verify needs the Azure management SDKs: pip install 'ai-trader[azure]' ({exc})"
        ) from exc

    options: dict[str, Any] = {"base_url": arm_base_url, "connection_verify": connection_verify}
    sub = names.subscription_id
    eventhub = EventHubManagementClient(credential, sub, **options)
    cdn = CdnManagementClient(credential, sub, **options)
    web = WebSiteManagementClient(credential, sub, **options)
    apps = ContainerAppsAPIClient(credential, sub, **options)
    auth = AuthorizationManagementClient(credential, sub, **options)

    report = _Report()
    report.guarded("event hubs", names.eventhubs_namespace, lambda: _eventhubs(report, eventhub, names, hubs))
    host: list[str | None] = [None]

    def frontdoor() -> None:
        host[0] = _frontdoor(report, cdn, names)

    report.guarded("front door", names.frontdoor_profile, frontdoor)
    for app in (names.api_app, names.ui_app):

        def restrictions(app: str = app) -> None:
            _access_restrictions(report, web, names, app)

        report.guarded("access restriction", app, restrictions)
    principals = _principals(report, web, apps, names)
    report.guarded(
        "role assignment", "subscription", lambda: _role_assignments(report, auth, principals, names)
    )
    base = public_base_url or (f"https://{host[0]}" if host[0] else None)
    if base is None:
        report.add("smoke route", "*", False, "no Front Door endpoint host to call")
    else:
        _smoke(report, base, timeout_s, http_verify)
    for client in (eventhub, cdn, web, apps, auth):
        client.close()
    return report.checks


def write_report(checks: list[Check], path: Path) -> None:
    """Write the checks as JSON (``{"ok": bool, "checks": [...]}``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}
    path.write_text(json.dumps(body, indent=2) + "\n")
