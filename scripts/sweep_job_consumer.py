"""Start a sweep for each job on ``EH_HUB_JOBS`` (Container Apps job, or a local subprocess).

Usage: python scripts/sweep_job_consumer.py [KEY=VALUE ...]   (e.g. IDLE_EXIT_SECONDS=30)
See docs/sweeps.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.workers.sweep_job_consumer import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
