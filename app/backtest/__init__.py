"""Backtests: the compiled engine, the shared decision pipeline, frames and the run_breakout CLI.

* :mod:`app.backtest.engine`: ``simulate_nb`` / ``simulate_metrics_nb`` kernels and ``run_backtest``.
* :mod:`app.backtest.pipeline`: ``decide`` (strategy -> priors -> sizing) used by backtests,
  sweeps and the live router.
* :mod:`app.backtest.frames`: probabilistic frame parquet files and their manifest.
* :mod:`app.backtest.service`: one DAL-backed run end to end (what the CLI calls).

Submodules are imported on use so that ``import app.backtest.sweeps`` stays light.
"""
