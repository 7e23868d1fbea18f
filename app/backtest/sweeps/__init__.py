"""Parameter sweeps: a YAML config, a parameter grid, a parallel evaluator and ranked outputs.

    from app.backtest.sweeps import load_sweep_config, run_sweep

    config = load_sweep_config("configs/backtest/momentum_sweep.yaml")
    result = run_sweep(config, "artifacts/backtests/momentum")
    print(result.best)

The runner (and with it Numba and the engine) is imported on first use of ``run_sweep``
or ``SweepResult``, so reading and validating configs stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.backtest.sweeps.config import (
    METRICS,
    SweepConfig,
    load_job_config,
    load_sweep_config,
    parse_sweep_config,
)
from app.backtest.sweeps.grid import ParameterSet, expand_grid, param_set_id

if TYPE_CHECKING:
    from app.backtest.sweeps.runner import SweepResult, run_sweep

__all__ = [
    "METRICS",
    "ParameterSet",
    "SweepConfig",
    "SweepResult",
    "expand_grid",
    "load_job_config",
    "load_sweep_config",
    "param_set_id",
    "parse_sweep_config",
    "run_sweep",
]


def __getattr__(name: str) -> Any:
    if name in ("run_sweep", "SweepResult"):
        from app.backtest.sweeps import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
