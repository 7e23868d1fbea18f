"""Deployment files stay consistent with the code they start."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from app.cli.main import app as cli

ROOT = Path(__file__).resolve().parents[3]


def test_dockerfile_copies_what_the_jobs_run_and_starts_the_api() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for copied in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert (ROOT / copied).exists(), copied
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, flags=re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert cmd[:2] == ["ai-trader", "api"]
    assert "/health/live" in text
    commands = {c.name for c in cli.registered_commands}
    assert {"api", "ui", "up"} <= commands


def test_container_apps_job_runs_a_script_the_image_contains() -> None:
    job = yaml.safe_load((ROOT / "deploy/aca/jobs/sweep-job.containerapp.yaml").read_text())
    container = job["properties"]["template"]["containers"][0]
    assert container["name"] == "sweep-job"
    assert (ROOT / container["args"][0]).exists()
    assert "COPY scripts ./scripts" in (ROOT / "Dockerfile").read_text()


def test_pm2_process_is_named_for_the_runbook_flush_command() -> None:
    node = shutil.which("node")
    assert node, "node is installed by ./dev.sh test"
    out = subprocess.run(
        [
            node,
            "-e",
            "process.stdout.write(JSON.stringify(require(process.argv[1])))",
            str(ROOT / "deploy/pm2/ecosystem.config.js"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (app,) = json.loads(out)["apps"]
    assert app["name"] == "ai-trader"  # `pm2 flush ai-trader`
    assert app["script"].endswith(".venv/bin/ai-trader")
    assert app["args"] == ["up"]
