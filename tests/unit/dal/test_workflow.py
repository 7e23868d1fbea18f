"""The DAL Smoke GitHub Actions workflow is valid and runs the smoke script as documented."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = REPO / ".github" / "workflows" / "dal-smoke.yml"


def test_workflow_passes_the_github_workflow_schema() -> None:
    tool = shutil.which("check-jsonschema") or str(REPO / ".venv" / "bin" / "check-jsonschema")
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_is_manual_and_weekday_scheduled_with_secrets_and_artifact() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["name"] == "DAL Smoke"
    triggers = doc[True]  # YAML 1.1 reads the bare key "on" as a boolean
    assert "workflow_dispatch" in triggers
    (schedule,) = triggers["schedule"]
    assert schedule["cron"].split()[-1] == "1-5"
    job = doc["jobs"]["smoke"]
    for key in (
        "ALPACA_API_KEY",
        "ALPACA_API_SECRET",
        "ALPHAVANTAGE_API_KEY",
        "TWELVEDATA_API_KEY",
        "FINNHUB_API_KEY",
    ):
        assert job["env"][key] == f"${{{{ secrets.{key} }}}}"
    steps = {step["name"]: step for step in job["steps"]}
    assert "python scripts/dal_smoke.py" in steps["Run dal_smoke.py"]["run"]
    assert "--output-dir artifacts/ops/dal_smoke" in steps["Run dal_smoke.py"]["run"]
    upload = steps["Upload report"]
    assert upload["if"] == "always()" and upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "artifacts/ops/dal_smoke/dal_smoke_*.json"
