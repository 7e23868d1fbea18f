"""``ai-trader models list|show|restore`` on a local blob store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from typer.testing import CliRunner

from app.bootstrap import Container
from app.cli.main import app
from app.config import Settings
from app.models.features import FEATURE_NAMES, FeatureSet
from app.models.registry import ModelRegistry, PromotionPolicy
from app.models.training import TrainingConfig, train


def _learnable(n: int, seed: int) -> FeatureSet:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, len(FEATURE_NAMES)))
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-2.0 * features[:, 3]))).astype(np.int8)
    return FeatureSet(features=features, labels=labels, rows=np.arange(n), prior_prob=np.full(n, 0.5))


def test_list_show_and_restore(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    for key in ("DATA_DIR", "ARTIFACTS_DIR"):
        monkeypatch.setenv(key, str(getattr(settings, key)))
    runner = CliRunner()
    with Container(settings) as container:
        registry = ModelRegistry(container.blob, settings.BLOB_CONTAINER_MODELS)
        versions = []
        for day, seed in ((1, 4), (2, 5)):
            data = _learnable(1_000, seed)
            model, report = train(data, TrainingConfig(max_iter=20))
            when = datetime(2026, 11, day, 17, 30, tzinfo=UTC)
            card = registry.register("momentum", model, report, data, training_window={}, now=when)
            assert registry.decide(card, PromotionPolicy(min_brier_improvement=0.0), now=when).promoted
            versions.append(card.version)

    listed = runner.invoke(app, ["models", "list", "momentum", "--json"])
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    assert body["champion"] == versions[1]
    assert [m["version"] for m in body["models"] if m["champion"]] == [versions[1]]

    shown = runner.invoke(app, ["models", "show", "momentum"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["card"]["version"] == versions[1]

    assert runner.invoke(app, ["models", "restore", "momentum", "--reason", " "]).exit_code == 2
    restored = runner.invoke(app, ["models", "restore", "momentum", "--reason", "drift", "--actor", "ops"])
    assert restored.exit_code == 0, restored.output
    with Container(settings) as container:
        registry = ModelRegistry(container.blob, settings.BLOB_CONTAINER_MODELS)
        assert registry.champion_version("momentum") == versions[0]
        last = [d for d in registry.decisions("momentum") if d.reason.startswith("restored")]
        assert last and last[0].actor == "ops" and last[0].reason == "restored by ops: drift"
    again = runner.invoke(app, ["models", "restore", "momentum", "--reason", "again"])
    assert again.exit_code == 1 and "no earlier champion" in again.output
    assert runner.invoke(app, ["models", "show", "nobody"]).exit_code == 1
