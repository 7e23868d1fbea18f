"""The CI workflow is valid, runs the README's test command and builds the image without pushing it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def test_ci_workflow_passes_the_github_workflow_schema() -> None:
    tool = shutil.which("check-jsonschema") or str(ROOT / ".venv" / "bin" / "check-jsonschema")
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _runs(job: dict[str, object]) -> list[str]:
    return [str(step["run"]) for step in job["steps"] if "run" in step]  # type: ignore[attr-defined]


def test_ci_runs_the_readme_test_command_and_builds_the_image_without_a_push() -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^(\./dev\.sh test)\b", readme, flags=re.MULTILINE)
    assert command, "README.md names ./dev.sh test as its test command"
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc[True]  # YAML 1.1 reads the bare key "on" as a boolean
    assert {"push", "pull_request"} <= set(triggers)
    assert doc["permissions"] == {"contents": "read"}
    jobs = doc["jobs"]
    assert command.group(1) in _runs(jobs["test"])
    image_runs = "\n".join(_runs(jobs["image"]))
    assert re.search(r"^docker build .* \.$", image_runs, flags=re.MULTILINE)
    assert "docker push" not in image_runs and "docker login" not in image_runs
    assert "python -m app.backtest.precompile --check" in image_runs
    # every job is bounded in time
    assert all(isinstance(job.get("timeout-minutes"), int) for job in jobs.values())
