"""``python -m app.backtest.precompile``: the image build's name for :mod:`app.workers.precompile`.

A shim so the Dockerfile, CI and the docs keep one stable command.
"""

from __future__ import annotations

from app.workers.precompile import KERNEL_MODULES, compile_all, main, uncompiled_kernels

__all__ = ["KERNEL_MODULES", "compile_all", "main", "uncompiled_kernels"]

if __name__ == "__main__":
    raise SystemExit(main())
