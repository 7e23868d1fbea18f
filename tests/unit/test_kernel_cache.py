"""The Numba cache is keyed by the kernels' sources: a callee's edit never leaves stale code running."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import app
from app.kernel_cache import kernel_sources, source_fingerprint

pytestmark = pytest.mark.unit


def test_every_kernel_module_is_in_the_fingerprint() -> None:
    names = {p.relative_to(Path(app.__file__).parent).as_posix() for p in kernel_sources()}
    for module in (
        "backtest/engine.py",
        "backtest/sweeps/kernels.py",
        "strategies/kernels.py",
        "strategies/sma_cross.py",
    ):
        assert module in names


def test_the_fingerprint_follows_contents_not_times(tmp_path: Path) -> None:
    (tmp_path / "k.py").write_text("import numba\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    first = source_fingerprint(tmp_path)
    os.utime(tmp_path / "k.py", (1, 1))
    assert source_fingerprint(tmp_path) == first
    (tmp_path / "plain.py").write_text("x = 2\n")  # not a kernel module: same key
    assert source_fingerprint(tmp_path) == first
    (tmp_path / "k.py").write_text("import numba  # changed\n")
    assert source_fingerprint(tmp_path) != first


def _package(root: Path, callee_value: int) -> None:
    """A tiny package shaped like ours: a caller kernel in one file calls a callee in another."""
    pkg = root / "kpkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "callee.py").write_text(
        f"import numba\n\n@numba.njit(cache=True)\ndef value():\n    return {callee_value}\n"
    )
    (pkg / "caller.py").write_text(
        "import numba\nfrom kpkg.callee import value\n\n"
        "@numba.njit(cache=True)\ndef run():\n    return value() + 1\n"
    )


def _run(root: Path, cache: Path) -> int:
    code = textwrap.dedent(
        """
        import os, sys
        import app.kernel_cache as kc
        from pathlib import Path
        os.environ.pop("_AI_TRADER_NUMBA_KEYED", None)
        os.environ["NUMBA_CACHE_DIR"] = sys.argv[2]
        kc.key_numba_cache(Path(sys.argv[1]) / "kpkg")
        sys.path.insert(0, sys.argv[1])
        from kpkg.caller import run
        print(run())
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "_AI_TRADER_NUMBA_KEYED")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(root), str(cache)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_editing_a_callee_in_another_file_recompiles_its_caller(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _package(tmp_path, 1)
    assert _run(tmp_path, cache) == 2
    assert _run(tmp_path, cache) == 2  # served from the cache
    _package(tmp_path, 41)  # only the callee's file changes
    assert _run(tmp_path, cache) == 42  # plain Numba caching would still print 2
    assert len([p for p in cache.iterdir() if p.name.startswith("src-")]) == 2
