"""The Container Apps job manifests match the ARM schema, the code they run and each other.

Each manifest under deploy/aca/jobs is checked against the Container Apps models of
``azure-mgmt-appcontainers``: every key must be a field of that model, and each value must have
the field's type. The consumer jobs are then compared with the runbook's commands, the keys the
scripts accept, the Settings defaults, the KEDA trigger settings, and the sweep job manifest.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.mgmt.appcontainers import models as aca_models

from app.config import Settings
from app.observability import COMPONENT_ENV
from app.workers import order_consumer, sweep_job_consumer
from app.workers.consumer_status import LAG_LIMIT_S
from app.workers.kv_args import IDLE_EXIT_KEY, idle_exit_seconds, parse_kv_args
from app.workers.sweep_job_consumer import parse_job_resource_id

ROOT = Path(__file__).resolve().parents[3]
JOBS = ROOT / "deploy/aca/jobs"
SWEEP_JOB = JOBS / "sweep-job.containerapp.yaml"
ORDER_CONSUMER = JOBS / "order-consumer.containerapp.yaml"
SWEEP_CONSUMER = JOBS / "sweep-consumer.containerapp.yaml"

AZURE_IDENTITY_KEYS = frozenset({"AZURE_CLIENT_ID"})
"""Read by azure-identity itself (which user-assigned identity to use), not an ai-trader setting."""

PROCESS_KEYS = frozenset({COMPONENT_ENV})
"""Read by the logging setup (the ``component`` of each log line), not a Settings key."""

# The runbook's "Order consumer service" command and "Sweep job consumer" keys.
RUNBOOK_ORDER_ARGS = [
    "EH_FQDN=ai-trader-ehns.servicebus.windows.net",
    "EH_HUB_ORDERS=exec.orders",
    "EH_CONSUMER_GROUP=orchestrator",
    "STORAGE_ACCOUNT=aitraderblobstore",
    "CHECKPOINT_CONTAINER=eh-checkpoints",
]
RUNBOOK_SWEEP_ENV = {
    "EH_FQDN": "ai-trader-ehns.servicebus.windows.net",
    "EH_HUB_JOBS": "backtest.jobs",
    "EH_CONSUMER_GROUP_SWEEP": "sweeper",
    "SWEEP_JOB_CONTAINER": "sweep-job",
    "STORAGE_ACCOUNT": "aitraderblobstore",
    "CHECKPOINT_CONTAINER": "eh-checkpoints",
}

CONSUMPTION_SIZES = {0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0}
"""vCPU sizes of the Consumption workload profile; memory is twice the vCPU count in GiB."""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def container_of(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["properties"]["template"]["containers"]
    assert isinstance(container, dict)
    return container


def env_of(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container_of(job).get("env", [])}


def plain_env(job: dict[str, Any]) -> dict[str, str]:
    return {name: item["value"] for name, item in env_of(job).items() if "value" in item}


def user_identity(job: dict[str, Any]) -> str:
    identity = job["identity"]
    assert identity["type"] == "UserAssigned"
    (resource_id,) = identity["userAssignedIdentities"]
    assert isinstance(resource_id, str)
    return resource_id


def scale_rule(job: dict[str, Any]) -> dict[str, Any]:
    (rule,) = job["properties"]["configuration"]["eventTriggerConfig"]["scale"]["rules"]
    assert isinstance(rule, dict)
    return rule


# --- the ARM schema, from the azure-mgmt-appcontainers models -------------------------------

_MODELS_NAMESPACE = {**vars(sys.modules[aca_models.Job.__module__]), "_models": aca_models}


def _rest_fields(model: type) -> dict[str, Any]:
    """Wire name -> annotated type of each field of an azure-mgmt-appcontainers model."""
    model()  # the SDK fills _attr_to_rest_field on first construction
    rest_fields = getattr(model, "_attr_to_rest_field", None)
    assert rest_fields is not None, f"{model.__name__} has no rest fields (azure-mgmt-appcontainers < 4?)"
    hints: dict[str, Any] = {}
    for base in reversed(model.__mro__):
        if base.__module__ == model.__module__:
            hints.update(typing.get_type_hints(base, globalns=_MODELS_NAMESPACE))
    return {field._rest_name: hints[attr] for attr, field in rest_fields.items()}


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, str) and tp is not str


def schema_errors(value: Any, tp: Any, where: str) -> list[str]:
    """Where ``value`` does not fit the annotated type ``tp`` of a Container Apps model field."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        enums = [arg for arg in options if _is_enum(arg)]
        if enums:  # the SDK types enums as "str or enum"; the manifest must use a known value
            options = enums
        results = [schema_errors(value, option, where) for option in options]
        return [] if any(not r for r in results) else min(results, key=len)
    if tp is Any:
        return []
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {value!r}"]
        (item,) = typing.get_args(tp)
        return [e for i, v in enumerate(value) for e in schema_errors(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping, got {value!r}"]
        _, item = typing.get_args(tp)
        return [e for k, v in value.items() for e in schema_errors(v, item, f"{where}.{k}")]
    if _is_enum(tp):
        allowed = {member.value for member in tp}  # type: ignore[attr-defined]
        return [] if value in allowed else [f"{where}: {value!r} is not one of {sorted(allowed)}"]
    if tp is str:
        return [] if isinstance(value, str) else [f"{where}: expected a string, got {value!r}"]
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an integer, got {value!r}"]
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number, got {value!r}"]
    if tp is bool:
        return [] if isinstance(value, bool) else [f"{where}: expected true/false, got {value!r}"]
    if isinstance(tp, type):  # a nested model
        if not isinstance(value, dict):
            return [f"{where}: expected a {tp.__name__} mapping, got {value!r}"]
        fields = _rest_fields(tp)
        errors = [f"{where}.{key}: not a field of {tp.__name__}" for key in value if key not in fields]
        for key, item in value.items():
            if key in fields:
                errors += schema_errors(item, fields[key], f"{where}.{key}")
        return errors
    raise AssertionError(f"{where}: no rule for the annotated type {tp!r}")


@pytest.mark.parametrize("path", sorted(JOBS.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_fits_the_container_apps_job_schema(path: Path) -> None:
    job = load(path)
    assert schema_errors(job, aca_models.Job, path.name) == []
    configuration = job["properties"]["configuration"]
    for required in ("triggerType", "replicaTimeout"):
        assert required in configuration, f"{path.name}: configuration.{required} is required"
    assert job["location"]
    trigger = configuration["triggerType"]
    trigger_config = {
        "Manual": "manualTriggerConfig",
        "Schedule": "scheduleTriggerConfig",
        "Event": "eventTriggerConfig",
    }
    assert trigger_config[trigger] in configuration
    resources = container_of(job)["resources"]
    assert resources["cpu"] in CONSUMPTION_SIZES
    assert resources["memory"] == f"{resources['cpu'] * 2:g}Gi"


def test_schema_check_catches_a_misspelt_key_and_a_wrong_type() -> None:
    job = load(ORDER_CONSUMER)
    job["properties"]["configuration"]["eventTriggerConfig"]["scale"]["pollinginterval"] = 15
    job["properties"]["configuration"]["replicaTimeout"] = "3600"
    job["properties"]["configuration"]["triggerType"] = "Queue"
    errors = schema_errors(job, aca_models.Job, "job")
    assert any("pollinginterval: not a field of JobScale" in e for e in errors), errors
    assert any("replicaTimeout: expected an integer" in e for e in errors), errors
    assert any("triggerType: 'Queue' is not one of" in e for e in errors), errors


# --- the consumer jobs -------------------------------------------------------------------------

CONSUMERS = [
    pytest.param(ORDER_CONSUMER, order_consumer.ACCEPTED_KEYS, id="order-consumer"),
    pytest.param(SWEEP_CONSUMER, sweep_job_consumer.ACCEPTED_KEYS, id="sweep-consumer"),
]


@pytest.mark.parametrize(("path", "accepted"), CONSUMERS)
def test_consumer_job_runs_a_script_of_the_image_with_keys_it_accepts(
    path: Path, accepted: typing.Collection[str]
) -> None:
    container = container_of(load(path))
    assert container["command"] == ["python"]
    script, *kv_args = container["args"]
    assert (ROOT / script).is_file(), script
    assert "COPY scripts ./scripts" in (ROOT / "Dockerfile").read_text()
    parse_kv_args(kv_args, accepted)  # raises InputError on a key the script would refuse
    settings_keys = set(Settings.model_fields)
    for name in env_of(load(path)):
        assert name in settings_keys | set(accepted) | AZURE_IDENTITY_KEYS | PROCESS_KEYS, (
            f"{path.name}: env {name} is neither a Settings key, a key the script accepts, "
            "nor an azure-identity variable"
        )


def test_order_consumer_sets_the_runbook_keys_as_environment_variables_like_the_templates() -> None:
    container = container_of(load(ORDER_CONSUMER))
    assert container["args"] == ["scripts/order_consumer.py"]
    # the runbook's command form stays valid: the script accepts each of its KEY=VALUE arguments ...
    runbook = parse_kv_args(RUNBOOK_ORDER_ARGS, order_consumer.ACCEPTED_KEYS)
    # ... and the job gives the same keys and values through its environment
    env = plain_env(load(ORDER_CONSUMER))
    assert {key: env.get(key) for key in runbook} == runbook
    # the same names as the order consumer of infra/main.bicep (its common consumer keys included)
    bicep = (ROOT / "infra" / "main.bicep").read_text()
    common = re.search(r"var consumerCommon = \[(.*?)\n\]", bicep, flags=re.DOTALL)
    block = re.search(r"orderConsumer: concat\(consumerCommon, \[(.*?)\]\)", bicep, flags=re.DOTALL)
    assert common and block, "infra/main.bicep: consumerCommon or the orderConsumer env not found"
    bicep_names = set(re.findall(r"name: '([A-Z_]+)'", common.group(1) + block.group(1)))
    assert bicep_names == set(env_of(load(ORDER_CONSUMER))), (
        "deploy/aca/jobs/order-consumer.containerapp.yaml and infra/main.bicep give the order consumer "
        "different environment variables"
    )


def test_sweep_consumer_has_the_runbook_keys_and_starts_the_sweep_job() -> None:
    job, sweep_job = load(SWEEP_CONSUMER), load(SWEEP_JOB)
    env = plain_env(job)
    assert {key: env[key] for key in RUNBOOK_SWEEP_ENV} == RUNBOOK_SWEEP_ENV
    _, _, job_name = parse_job_resource_id(env["SWEEP_JOB_RESOURCE_ID"])
    assert job_name == sweep_job["name"]
    assert env["SWEEP_JOB_CONTAINER"] == container_of(sweep_job)["name"]
    # the resource id sits in the same subscription and resource group as the identities
    sub_and_group = user_identity(sweep_job).split("/providers/")[0]
    assert env["SWEEP_JOB_RESOURCE_ID"].startswith(sub_and_group + "/providers/Microsoft.App/jobs/")


def consumer_settings(path: Path, make_settings: Callable[..., Settings]) -> tuple[Settings, dict[str, str]]:
    """The Settings the consumer would build from the manifest's arguments and plain env values."""
    job = load(path)
    values = plain_env(job)
    values.update(parse_kv_args(container_of(job)["args"][1:], set(Settings.model_fields)))
    fields = {k: v for k, v in values.items() if k in Settings.model_fields}
    # the Key Vault secret stands in for a real PostgreSQL URL
    fields["DATABASE_URL"] = "postgresql://trader:secret@db.example:5432/ai_trader?sslmode=require"
    return make_settings(**fields), values


@pytest.mark.parametrize(
    ("path", "hub_key", "group_key"),
    [
        pytest.param(ORDER_CONSUMER, "EH_HUB_ORDERS", "EH_CONSUMER_GROUP", id="order-consumer"),
        pytest.param(SWEEP_CONSUMER, "EH_HUB_JOBS", "EH_CONSUMER_GROUP_SWEEP", id="sweep-consumer"),
    ],
)
def test_trigger_reads_the_checkpoints_the_consumer_writes(
    path: Path, hub_key: str, group_key: str, make_settings: Callable[..., Settings]
) -> None:
    job = load(path)
    settings, values = consumer_settings(path, make_settings)
    defaults = Settings.model_fields
    # the consumer itself: Event Hubs with durable blob checkpoints (no exit 2 at start)
    assert settings.bus_backend.kind == "eventhubs"
    assert settings.checkpoint_backend.kind == "azure"
    assert settings.checkpoint_backend.target == f"{settings.STORAGE_ACCOUNT}/{settings.CHECKPOINT_CONTAINER}"
    hub, group = getattr(settings, hub_key), getattr(settings, group_key)
    assert (hub, group) == (defaults[hub_key].default, defaults[group_key].default)
    assert defaults["CHECKPOINT_CONTAINER"].default == settings.CHECKPOINT_CONTAINER

    rule = scale_rule(job)
    meta = rule["metadata"]
    assert rule["type"] == "azure-eventhub"
    assert all(isinstance(v, str) for v in meta.values()), "KEDA metadata values are strings"
    assert f"{meta['eventHubNamespace']}.servicebus.windows.net" == settings.EH_FQDN
    assert meta["eventHubName"] == hub
    assert meta["consumerGroup"] == group
    assert meta["blobContainer"] == settings.CHECKPOINT_CONTAINER
    assert meta["storageAccountName"] == settings.STORAGE_ACCOUNT
    # azure-eventhub v5's BlobCheckpointStore keeps the sequence number in blob metadata under a
    # fully lower-cased name; KEDA's blobMetadata strategy lower-cases only the group
    assert meta["checkpointStrategy"] == "blobMetadata"
    assert meta["eventHubNamespace"] == meta["eventHubNamespace"].lower()
    assert meta["eventHubName"] == meta["eventHubName"].lower()
    assert int(meta["unprocessedEventThreshold"]) >= 1

    configuration = job["properties"]["configuration"]
    scale = configuration["eventTriggerConfig"]["scale"]
    assert configuration["triggerType"] == "Event"
    assert (scale["minExecutions"], scale["maxExecutions"]) == (0, 1)
    idle = idle_exit_seconds(values, environ={})
    assert idle is not None, f"{IDLE_EXIT_KEY} lets the execution end once the lag is 0"
    assert scale["pollingInterval"] < idle < configuration["replicaTimeout"]
    assert 0 <= configuration["replicaRetryLimit"] <= 3


def test_order_consumer_is_polled_well_inside_the_lag_limit() -> None:
    scale = load(ORDER_CONSUMER)["properties"]["configuration"]["eventTriggerConfig"]["scale"]
    assert scale["pollingInterval"] <= LAG_LIMIT_S / 2


@pytest.mark.parametrize("path", [ORDER_CONSUMER, SWEEP_CONSUMER], ids=lambda p: p.name)
def test_identity_image_and_secret_match_the_sweep_job(path: Path) -> None:
    job, sweep_job = load(path), load(SWEEP_JOB)
    identity = user_identity(job)
    sweep_identity = user_identity(sweep_job)
    assert identity.rsplit("/", 1)[0] == sweep_identity.rsplit("/", 1)[0]
    assert identity.rsplit("/", 1)[1] == job["name"]  # one identity per workload
    configuration, sweep_configuration = (
        job["properties"]["configuration"],
        sweep_job["properties"]["configuration"],
    )

    for key in ("environmentId", "workloadProfileName"):
        assert job["properties"][key] == sweep_job["properties"][key]
    assert job["location"] == sweep_job["location"]
    assert container_of(job)["image"] == container_of(sweep_job)["image"]
    assert [r["server"] for r in configuration["registries"]] == [
        r["server"] for r in sweep_configuration["registries"]
    ]

    secrets = {s["name"]: s for s in configuration["secrets"]}
    sweep_secrets = {s["name"]: s for s in sweep_configuration["secrets"]}
    assert secrets["database-url"]["keyVaultUrl"] == sweep_secrets["database-url"]["keyVaultUrl"]
    assert env_of(job)["DATABASE_URL"] == {"name": "DATABASE_URL", "secretRef": "database-url"}
    assert all("value" not in s for s in secrets.values()), "secrets come from Key Vault, not the manifest"
    # every secret a container refers to is declared
    refs = {item["secretRef"] for item in env_of(job).values() if "secretRef" in item}
    assert refs <= set(secrets)

    # one identity for everything: registry pull, Key Vault, the scaler and the code
    used = [r["identity"] for r in configuration["registries"]]
    used += [s["identity"] for s in configuration["secrets"]]
    used.append(scale_rule(job)["identity"])
    assert set(used) == {identity}
    assert env_of(job)["AZURE_CLIENT_ID"]["value"].startswith("<client id of ")
