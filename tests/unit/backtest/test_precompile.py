"""``python -m app.backtest.precompile`` covers every module with cached Numba kernels."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.workers import precompile

APP = Path(__file__).resolve().parents[3] / "app"


def _kernel_modules_in_source() -> set[str]:
    found = set()
    for path in APP.rglob("*.py"):
        if "\n@njit(" in path.read_text():
            parts = path.relative_to(APP.parent).with_suffix("").parts
            found.add(".".join(parts))
    return found


def test_every_module_with_kernels_is_precompiled() -> None:
    assert _kernel_modules_in_source() == set(precompile.KERNEL_MODULES)


def test_uncompiled_kernels_lists_dispatchers_by_module() -> None:
    names = precompile.uncompiled_kernels(["app.strategies.kernels"])
    assert all(name.startswith("app.strategies.kernels.") for name in names)
    # a kernel compiled in this process is not listed
    import numpy as np

    from app.strategies.kernels import momentum_target_nb

    momentum_target_nb(np.linspace(1.0, 2.0, 5), 2, 0.0, np.empty(5))
    assert "app.strategies.kernels.momentum_target_nb" not in precompile.uncompiled_kernels(
        ["app.strategies.kernels"]
    )


def test_a_disabled_jit_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from numba import config

    monkeypatch.setattr(config, "DISABLE_JIT", True, raising=False)
    assert precompile.main(["--quiet"]) == 2
    assert "NUMBA_DISABLE_JIT" in capsys.readouterr().err


def test_inlined_kernels_are_not_expected_to_compile_on_their_own() -> None:
    # inline="always" kernels live only inside their callers' code: listing them as
    # "unreached" would fail every image build
    from app.backtest.engine import _close_trade_nb

    assert _close_trade_nb.targetoptions.get("inline") == "always"
    names = {name for name, _ in precompile._dispatchers(["app.backtest.engine"])}
    assert "app.backtest.engine._close_trade_nb" not in names
    assert "app.backtest.engine.simulate_nb" in names
    assert "app.backtest.engine._close_trade_nb" not in precompile.uncompiled_kernels(["app.backtest.engine"])
