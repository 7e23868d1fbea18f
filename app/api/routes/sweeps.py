"""Sweep jobs: ``POST /backtests/sweeps/jobs``, ``GET /backtests/sweeps/jobs`` and ``GET .../{job_id}``.

POST validates the config (with overrides merged in), records the job as ``queued`` in
``sweep_registry`` and publishes it to ``EH_HUB_JOBS``; the sweep job consumer starts it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from app.backtest.sweeps.jobs import (
    SweepJobCreate,
    SweepJobDetail,
    SweepJobList,
    SweepJobPublic,
    SweepJobService,
)

__all__ = ["router"]

router = APIRouter(prefix="/backtests/sweeps", tags=["sweeps"])


def _service(request: Request) -> SweepJobService:
    services = request.app.state.services
    return SweepJobService(services.settings, services.db, services.blob, services.bus)


@router.post("/jobs", status_code=201)
async def create_job(body: SweepJobCreate, request: Request) -> SweepJobPublic:
    """Validate a sweep config, record the job as queued and publish it to the jobs hub."""
    return await run_in_threadpool(_service(request).submit, body)


@router.get("/jobs")
async def list_jobs(
    request: Request,
    status: Annotated[
        str | None, Query(description="queued, dispatched, running, completed or failed")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SweepJobList:
    """Newest jobs first, with counts by status over all jobs."""
    return await run_in_threadpool(_service(request).list_jobs, status, limit)


@router.get("/jobs/{job_id}")
async def get_job(
    request: Request,
    job_id: Annotated[str, Path(min_length=1, max_length=64)],
    top: Annotated[int, Query(ge=1, le=100, description="Leaderboard rows to include.")] = 10,
) -> SweepJobDetail:
    """One job with its run summary and the top rows of its leaderboard once it completed."""
    return await run_in_threadpool(_service(request).detail, job_id, top)
