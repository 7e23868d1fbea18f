"""The sweep job consumer on the real local bus and databases, starting the Container Apps job
through the real azure-mgmt-appcontainers client against a local HTTPS stand-in for ARM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.backtest.sweeps.jobs import JOB_EVENT_TYPE, SweepJobCreate, SweepJobService
from app.bus.envelope import Envelope
from app.bus.ports import Bus
from app.config import Settings
from app.errors import ConfigError, RetryableError
from app.workers.sweep_job_consumer import (
    ContainerAppsDispatcher,
    LocalDispatcher,
    SweepJobConsumer,
    container_apps_dispatcher,
    make_dispatcher,
    parse_job_resource_id,
)
from tests.integration.sweeps.arm_server import JOB, RESOURCE_GROUP, RESOURCE_ID, SUBSCRIPTION, ArmServer
from tests.integration.sweeps.conftest import StaticCredential

CONFIG = "configs/backtest/momentum_sweep.yaml"


def _aca(settings: Settings, arm: ArmServer) -> ContainerAppsDispatcher:
    return container_apps_dispatcher(
        settings,
        credential=StaticCredential(),
        base_url=arm.url,
        connection_verify=str(arm.ca_file),
        polling_interval=0,
        retry_total=0,  # the SDK's own retries are the same in production; off here for speed
    )


@pytest.fixture
def sweep_settings(make_settings: Callable[..., Settings]) -> Settings:
    """SQLite only here: the registry's claim is covered on both databases in test_jobs."""
    return make_settings()


@pytest.fixture
def aca_settings(sweep_settings: Settings) -> Settings:
    return sweep_settings.model_copy(update={"SWEEP_JOB_RESOURCE_ID": RESOURCE_ID})


def _consume(settings: Settings, bus: Bus, service: SweepJobService, arm: ArmServer) -> int:
    consumer = SweepJobConsumer(settings, bus, service, _aca(settings, arm), backoff_s=0.01)
    return consumer.run(idle_exit_s=0.3, poll_timeout_s=0.1)


def test_resource_id_parsing() -> None:
    assert parse_job_resource_id(RESOURCE_ID) == (SUBSCRIPTION, RESOURCE_GROUP, JOB)
    with pytest.raises(ConfigError, match="SWEEP_JOB_RESOURCE_ID"):
        parse_job_resource_id("/subscriptions/x/jobs/y")


def test_dispatcher_choice_follows_the_resource_id(sweep_settings: Settings, aca_settings: Settings) -> None:
    assert make_dispatcher(sweep_settings).kind == "local"
    assert make_dispatcher(aca_settings).kind == "aca"


def test_start_keeps_the_job_template_and_sets_the_overrides(
    aca_settings: Settings, service: SweepJobService, bus: Bus, arm: ArmServer
) -> None:
    job = service.submit(SweepJobCreate(config_path=CONFIG, symbol="GOOG"))
    assert _consume(aca_settings, bus, service, arm) == 1
    starts = [r for r in arm.requests if r["method"] == "POST"]
    assert len(starts) == 1
    assert starts[0]["authorization"] == "Bearer test-token"
    assert "api-version=" in starts[0]["query"]
    (container,) = starts[0]["body"]["containers"]
    assert container["name"] == "sweep-job"
    assert container["image"] == "aitrader.azurecr.io/ai-trader:2026.11"
    assert container["args"] == ["scripts/sweep_job_entry.py"]
    assert container["resources"] == {"cpu": 2.0, "memory": "4Gi"}
    env = {e["name"]: e.get("value", e.get("secretRef")) for e in container["env"]}
    assert env == {
        "SWEEP_OUTPUT_DIR": "/mnt/sweeps",
        "DATABASE_URL": "database-url",
        "SWEEP_JOB_ID": job.job_id,
        "SWEEP_CONFIG_BLOB": job.config_blob,
    }
    dispatched = service.get(job.job_id)
    assert dispatched.status == "dispatched"
    assert dispatched.execution_name == f"{JOB}-exec001"
    assert dispatched.dispatched_at is not None


def test_a_redelivered_job_is_not_started_twice(
    aca_settings: Settings, service: SweepJobService, bus: Bus, arm: ArmServer
) -> None:
    job = service.submit(SweepJobCreate(config_path=CONFIG))
    _consume(aca_settings, bus, service, arm)
    # the same job arrives again (at-least-once delivery, or a replayed hub)
    again = Envelope.wrap(JOB_EVENT_TYPE, {"job_id": job.job_id}, partition_key=job.job_id)
    bus.publish(aca_settings.EH_HUB_JOBS, [again])
    assert _consume(aca_settings, bus, service, arm) == 1
    assert sum(1 for r in arm.requests if r["method"] == "POST") == 1
    assert service.get(job.job_id).execution_name == f"{JOB}-exec001"


def test_bad_events_are_dead_lettered_and_consumption_goes_on(
    aca_settings: Settings, service: SweepJobService, bus: Bus, arm: ArmServer
) -> None:
    hub = aca_settings.EH_HUB_JOBS
    bus.publish(hub, [Envelope.wrap("something.else", {"x": 1}, partition_key="k")])
    bus.publish(hub, [Envelope.wrap(JOB_EVENT_TYPE, {"job_id": "missing"}, partition_key="missing")])
    job = service.submit(SweepJobCreate(config_path=CONFIG))
    assert _consume(aca_settings, bus, service, arm) == 3
    reasons = [d.reason for d in bus.dead_letters(hub, aca_settings.EH_CONSUMER_GROUP_SWEEP)]
    assert any("expected a sweep.job event" in r for r in reasons)
    assert any("'missing' is not in sweep_registry" in r for r in reasons)
    assert service.get(job.job_id).status == "dispatched"


@pytest.mark.parametrize(
    ("status", "error", "attempts"),
    [(403, ConfigError, 1), (503, RetryableError, 3)],
)
def test_refused_starts_fail_the_job_with_the_reason(
    aca_settings: Settings,
    service: SweepJobService,
    bus: Bus,
    arm: ArmServer,
    status: int,
    error: type[Exception],
    attempts: int,
) -> None:
    arm.start_status = status
    dispatcher = _aca(aca_settings, arm)
    job = service.submit(SweepJobCreate(config_path=CONFIG))
    with pytest.raises(error, match=f"HTTP {status}"):
        dispatcher.start(service.get(job.job_id))
    arm.requests.clear()
    _consume(aca_settings, bus, service, arm)
    failed = service.get(job.job_id)
    assert failed.status == "failed"
    assert f"HTTP {status}" in (failed.error or "")
    assert sum(1 for r in arm.requests if r["method"] == "POST") == attempts


def test_a_missing_container_is_a_config_error(
    make_settings: Callable[..., Settings], service: SweepJobService, arm: ArmServer
) -> None:
    settings = make_settings(SWEEP_JOB_RESOURCE_ID=RESOURCE_ID, SWEEP_JOB_CONTAINER="other")
    job = service.submit(SweepJobCreate(config_path=CONFIG))
    with pytest.raises(ConfigError, match=r"has no container 'other'.*sweep-job"):
        _aca(settings, arm).start(service.get(job.job_id))


def test_a_local_run_that_dies_marks_the_job_failed(
    sweep_settings: Settings, service: SweepJobService, bus: Bus, tmp_path: Path
) -> None:
    script = tmp_path / "dies.py"
    script.write_text("import os, sys\nprint('job', os.environ['SWEEP_JOB_ID'])\nsys.exit(3)\n")
    job = service.submit(SweepJobCreate(config_path=CONFIG))
    dispatcher = LocalDispatcher(sweep_settings, script=script)
    consumer = SweepJobConsumer(sweep_settings, bus, service, dispatcher)
    assert consumer.run(idle_exit_s=0.3, poll_timeout_s=0.1) == 1
    failed = service.get(job.job_id)
    assert failed.status == "failed"
    assert failed.error == "sweep_job_entry.py exited with code 3"
    assert (failed.execution_name or "").startswith("local-")
    log = (sweep_settings.DATA_DIR / "sweep-jobs" / f"{job.job_id}.log").read_text()
    assert log.strip() == f"job {job.job_id}"
