"""``POST /backtests/run``: one backtest through the same service and request model as the CLI.

The body is :class:`~app.backtest.service.BacktestRequest` (the CLI's flags without their
dashes); the response is the object ``run_breakout --json`` prints, including
``prob_frame_path``; the frame is registered in the manifest with source ``api`` so the
dashboard's frame viewer lists it. On an Azure blob backend the frame is also published to
the data container: ``prob_frame_blob_uri`` is its ``blob://`` URI, or ``null`` with the
reason in ``prob_frame_blob_error`` when publishing failed (the run itself still succeeds).
The run uses the process's market data and database: nothing is migrated per request.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.api.deps import BacktestDepsDep, SettingsDep
from app.backtest.service import BacktestRequest, BacktestSummary, run_request, summary_json

__all__ = ["router"]

router = APIRouter(prefix="/backtests", tags=["backtests"])


@router.post("/run", response_model=BacktestSummary)
async def run_backtest(
    body: BacktestRequest, settings: SettingsDep, deps: BacktestDepsDep
) -> BacktestSummary:
    """Run one backtest (DAL -> strategy -> sizing -> engine) and return its summary."""
    run = await run_in_threadpool(run_request, settings, body, deps, source="api")
    return BacktestSummary.model_validate(summary_json(run))
