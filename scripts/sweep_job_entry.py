"""Run one parameter sweep (the Container Apps job ``ai-trader-sweep`` runs this).

Usage: SWEEP_CONFIG_PATH=configs/backtest/momentum_sweep.yaml OUTPUT_DIR=artifacts/backtests/momentum \\
       python scripts/sweep_job_entry.py
The same as ``ai-trader sweep run`` (options --config, --config-blob, --output-dir, --job-id
override the environment); see docs/sweeps.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.workers.sweep_job_entry import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
