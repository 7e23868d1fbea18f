"""``ai-trader up``: every JSON log line on stderr says which component wrote it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.servers import free_port, wait_for

EXPECTED = {"up", "api", "order-consumer", "sweep-consumer", "venue-updates", "scheduler"}


def test_up_labels_each_child_and_keeps_lines_clean(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "API_BEARER_TOKEN")}
    env.pop("AI_TRADER_COMPONENT", None)
    env.update(
        DATA_DIR=str(tmp_path / "var"),
        ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        PORT=str(port),
        SCHEDULE_GRACE_MINUTES="0",  # run no job: this test is about the log lines
    )
    stderr_path = tmp_path / "stderr.log"
    only = [arg for name in sorted(EXPECTED - {"up"}) for arg in ("--only", name)]
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", *only],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:

            def lines() -> list[dict[str, Any]]:
                text = stderr_path.read_text(encoding="utf-8")
                return [json.loads(x) for x in text.splitlines() if x.startswith("{")]

            def all_started() -> bool:
                msgs = {x["msg"] for x in lines()}
                started = {"order consumer started", "sweep job consumer started", "venue updates started"}
                return started <= msgs and any(m.startswith("Uvicorn running on") for m in msgs)

            wait_for(all_started, 60, "ai-trader up's components")
            headers = {"X-Request-ID": "component-check"}
            assert httpx.get(f"http://127.0.0.1:{port}/nope", headers=headers, timeout=5).status_code == 404
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    assert proc.returncode == 0

    text = stderr_path.read_text(encoding="utf-8")
    parsed = [json.loads(x) for x in text.splitlines() if x.strip()]  # every stderr line is JSON
    assert {x["component"] for x in parsed} == EXPECTED
    assert not [x for x in parsed if "color_message" in x or x["logger"] == "__main__"]
    by_logger = {(x["logger"], x["component"]) for x in parsed}
    assert ("app.workers.sweep_job_consumer", "sweep-consumer") in by_logger
    assert ("app.workers.scheduler", "scheduler") in by_logger
    assert ("app.workers.venue_updates", "venue-updates") in by_logger
    assert ("uvicorn.error", "api") in by_logger
    (access,) = [x for x in parsed if x.get("request_id") == "component-check"]
    assert (access["component"], access["msg"]) == ("api", "GET /nope 404")
    (stopped,) = [x for x in parsed if x["msg"] == "order consumer stopped"]
    assert stopped["component"] == "order-consumer" and stopped["events"] == 0 and "stats" not in stopped
