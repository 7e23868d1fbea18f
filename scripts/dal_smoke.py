"""DAL smoke test: fetch fresh bars from every vendor and write a JSON report.

Usage: python scripts/dal_smoke.py --output-dir artifacts/ops/dal_smoke
       [--check vendor:symbol:interval:lookbackDays ...] [--as-of YYYY-MM-DD]
The same as ``ai-trader data smoke``; see docs/dal.md. Exit code 1 when any check fails
(the report is written either way).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cli.data import smoke_main

if __name__ == "__main__":
    sys.exit(smoke_main(sys.argv[1:]))
