"""``python -m app.backtest.precompile`` knows every module that defines a Numba kernel."""

from __future__ import annotations

import re
from pathlib import Path

from app.workers import precompile

APP = Path(__file__).resolve().parents[3] / "app"


def test_every_module_with_a_kernel_is_warmed_by_the_precompile() -> None:
    found = {
        ".".join(path.relative_to(APP.parent).with_suffix("").parts)
        for path in APP.rglob("*.py")
        if re.search(r"^@n?jit\(", path.read_text(), flags=re.MULTILINE)
    }
    assert found == set(precompile.KERNEL_MODULES), (
        "app/workers/precompile.py KERNEL_MODULES must list exactly the modules with @njit kernels "
        "(and warm() must reach the new kernels), or the image ships without them"
    )


def test_kernels_are_found_by_module_and_report_their_signatures() -> None:
    import numpy as np

    from app.strategies.kernels import momentum_target_nb

    momentum_target_nb(np.linspace(1.0, 2.0, 5), 2, 0.0, np.empty(5))
    states = {state.name: state for state in precompile.kernels()}
    assert states["app.strategies.kernels.momentum_target_nb"].signatures >= 1
    assert all(
        name.split(".")[-1] in dir(__import__(name.rsplit(".", 1)[0], fromlist=["x"])) for name in states
    )
    assert "app.strategies.kernels.momentum_target_nb" not in precompile.uncompiled_kernels(
        ["app.strategies.kernels"]
    )
