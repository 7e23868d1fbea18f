"""Sweep jobs: ``POST /backtests/sweeps/jobs``, ``GET /backtests/sweeps/jobs`` and ``GET .../{job_id}``.

POST validates the config (with overrides merged in), records the job as ``queued`` in
``sweep_registry`` and publishes it to ``EH_HUB_JOBS``; the sweep job consumer starts it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from app.api.deps import SweepJobServiceDep
from app.backtest.sweeps.jobs import SweepJobCreate, SweepJobDetail, SweepJobList, SweepJobPublic

__all__ = ["router"]

router = APIRouter(prefix="/backtests/sweeps", tags=["sweeps"])


@router.post("/jobs", status_code=201, response_model=SweepJobPublic)
async def create_job(body: SweepJobCreate, service: SweepJobServiceDep) -> SweepJobPublic:
    """Validate a sweep config, record the job as queued and publish it to the jobs hub."""
    return await run_in_threadpool(service.submit, body)


@router.get("/jobs", response_model=SweepJobList)
async def list_jobs(
    service: SweepJobServiceDep,
    status: Annotated[
        str | None, Query(description="queued, dispatched, running, completed or failed")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SweepJobList:
    """Newest jobs first, with counts by status over all jobs."""
    return await run_in_threadpool(service.list_jobs, status, limit)


@router.get("/jobs/{job_id}", response_model=SweepJobDetail)
async def get_job(
    service: SweepJobServiceDep,
    job_id: Annotated[str, Path(min_length=1, max_length=64)],
    top: Annotated[int, Query(ge=1, le=100, description="Leaderboard rows to include.")] = 10,
) -> SweepJobDetail:
    """One job with its run summary and the top rows of its leaderboard once it completed."""
    return await run_in_threadpool(service.detail, job_id, top)
