"""Backtests: the compiled engine, frames and the run_breakout CLI.

* :mod:`app.backtest.engine`: ``simulate_nb`` / ``simulate_metrics_nb`` kernels and ``run_backtest``.
* the decision pipeline (``decide``: strategy -> priors -> sizing) that backtests, sweeps and
  the live router share lives in :mod:`app.decision.pipeline`.
* :mod:`app.backtest.frames`: probabilistic frame parquet files and their manifest.
* :mod:`app.backtest.service`: one DAL-backed run end to end (what the CLI calls).

Submodules are imported on use so that ``import app.backtest.sweeps`` stays light.
"""
