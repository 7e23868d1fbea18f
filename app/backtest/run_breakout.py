"""``python -m app.backtest.run_breakout``: the runbook's name for ``ai-trader backtest run``.

A shim: the options, outputs and exit codes are those of :mod:`app.cli.backtest`.
"""

from __future__ import annotations

from app.cli.backtest import build_parser, main, parse_when

__all__ = ["build_parser", "main", "parse_when"]

if __name__ == "__main__":
    raise SystemExit(main())
