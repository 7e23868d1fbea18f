"""The Container Apps job manifest: the SDK reads it and it runs what the runbook says."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.config import Settings
from app.observability import COMPONENT_ENV

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "aca" / "jobs" / "sweep-job.containerapp.yaml"


def test_manifest_is_a_manual_job_running_the_entry_script() -> None:
    from azure.mgmt.appcontainers.models import Job

    data = yaml.safe_load(MANIFEST.read_text())
    job = Job(data)
    assert job.name == "ai-trader-sweep"
    assert job.properties.configuration.trigger_type == "Manual"
    (container,) = job.properties.template.containers
    assert container.name == Settings.model_fields["SWEEP_JOB_CONTAINER"].default
    assert container.args == ["scripts/sweep_job_entry.py"]
    assert container.resources.cpu == 2.0 and container.resources.memory == "4Gi"
    assert job.identity.type == "UserAssigned"


def test_manifest_env_uses_known_setting_names() -> None:
    data = yaml.safe_load(MANIFEST.read_text())
    env = data["properties"]["template"]["containers"][0]["env"]
    names = {item["name"] for item in env}
    # AZURE_CLIENT_ID is read by azure-identity, AI_TRADER_COMPONENT by the logging setup
    assert names - {"AZURE_CLIENT_ID", COMPONENT_ENV} <= set(Settings.model_fields)
    assert next(item for item in env if item["name"] == COMPONENT_ENV)["value"] == "sweep-job"
    assert {"SWEEP_CONFIG_BLOB", "SWEEP_OUTPUT_DIR", "DATABASE_URL", "STORAGE_ACCOUNT"} <= names
    secret = next(item for item in env if item["name"] == "DATABASE_URL")
    assert secret == {"name": "DATABASE_URL", "secretRef": "database-url"}
