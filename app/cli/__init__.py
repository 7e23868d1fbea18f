"""The ``ai-trader`` command line.

``app`` and ``main`` load the whole command tree on first use, so one command module
(``app.cli.backtest`` behind ``python -m app.backtest.run_breakout``) imports only itself.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'app.cli' has no attribute {name!r}")
    tree = importlib.import_module("app.cli.main")
    # importing the submodule bound ``main`` to it; the package exports its function instead
    globals().update(app=tree.app, main=tree.main)
    return globals()[name]
