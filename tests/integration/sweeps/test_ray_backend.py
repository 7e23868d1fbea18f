"""run_sweep on Ray: a throwaway local Ray instance (RAY_ADDRESS=local) gives the local rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.backtest.sweeps import parse_sweep_config, run_sweep
from app.bootstrap import build_sweep_deps
from app.config import Settings

CONFIG = """\
name: ray_sweep
symbols: [GOOG]
vendor: sample
start: 2008-01-02
end: 2012-12-31
strategy: momentum
params:
  lookback: [5, 10, 20, 40]
  threshold: [0.0, 0.02]
execution: {chunk_size: 3}
"""


@pytest.fixture
def ray_local() -> Iterator[None]:
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


def _summary(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]


def test_ray_backend_matches_the_local_backend(
    make_settings: Callable[..., Settings], tmp_path: Path, ray_local: None
) -> None:
    config = parse_sweep_config(CONFIG)
    settings, on_ray_settings = make_settings(), make_settings(RAY_ADDRESS="local")
    local = run_sweep(
        config, tmp_path / "local", settings=settings, deps=build_sweep_deps(settings), write_frame=False
    )
    on_ray = run_sweep(
        config,
        tmp_path / "ray",
        settings=on_ray_settings,
        deps=build_sweep_deps(on_ray_settings),
        write_frame=False,
    )
    assert (local.backend, on_ray.backend) == ("local", "ray")
    assert on_ray.ok == 8 and on_ray.failed == 0
    assert _summary(tmp_path / "ray") == _summary(tmp_path / "local")
