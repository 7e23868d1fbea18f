"""The model registry in the blob store (container ``trader-models``).

Layout, per strategy::

    models/<strategy>/<version>/model.pkl      the fitted model (pickle, integrity-checked)
    models/<strategy>/<version>/card.json      what it is: features, window, data, metrics, versions
    champions/<strategy>.json                  the promoted version and the ones before it
    decisions/<strategy>/<when>-<version>.json every promotion decision, with its numbers

A model is only ever unpickled after its SHA-256 matches the one its card recorded when the
registry wrote it, so a replaced or truncated object is refused rather than loaded.
Decisions are one object each, so two writers never overwrite each other's record.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np

from app.errors import InputError, NotFoundError, StorageError
from app.models.features import FEATURE_NAMES, FeatureSet, feature_hash
from app.models.training import TrainingReport, WinProbabilityModel
from app.storage.blob import BlobStore

__all__ = [
    "ModelCard",
    "ModelRegistry",
    "PromotionDecision",
    "PromotionPolicy",
    "data_fingerprint",
]

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _check_name(kind: str, value: str) -> str:
    if not value or len(value) > 80 or not set(value) <= _SAFE or value.startswith("."):
        raise InputError(f"invalid {kind} {value!r}: use letters, digits, '_', '-', '.' (max 80)")
    return value


def data_fingerprint(data: FeatureSet) -> str:
    """SHA-256 of the training matrix, labels and rows: the same data gives the same print."""
    digest = hashlib.sha256()
    for array in (data.features, data.labels, data.rows):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scikit-learn", "ai-trader"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


@dataclass(frozen=True, slots=True)
class ModelCard:
    """Everything needed to know what a model is and to reproduce it."""

    strategy: str
    version: str
    created_at: str
    feature_names: list[str]
    feature_hash: str
    training_window: dict[str, str]
    data_fingerprint: str
    samples: int
    metrics: dict[str, Any]
    library_versions: dict[str, str]
    code_version: str | None
    artifact_sha256: str
    training_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PromotionPolicy:
    """When a challenger replaces the Beta prior (or the current champion)."""

    min_brier_improvement: float = 0.005
    """Required relative Brier improvement over the Beta prior on the same samples."""
    require_lower_log_loss: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_brier_improvement < 1.0:
            raise InputError(f"min_brier_improvement must be in [0, 1), got {self.min_brier_improvement}")


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    """The outcome of one promotion decision and the numbers behind it."""

    strategy: str
    version: str
    promoted: bool
    reason: str
    decided_at: str
    actor: str
    model_brier: float
    prior_brier: float
    brier_improvement: float
    model_log_loss: float
    prior_log_loss: float
    previous_champion: str | None


class ModelRegistry:
    """Models, champions and decisions of every strategy, in one blob container."""

    def __init__(self, blob: BlobStore, container: str = "trader-models") -> None:
        self.blob = blob
        self.container = container

    # --- writing ------------------------------------------------------------------------
    def register(
        self,
        strategy: str,
        model: WinProbabilityModel,
        report: TrainingReport,
        data: FeatureSet,
        *,
        training_window: dict[str, str],
        training_config: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> ModelCard:
        """Store ``model`` with its card; the version is the time and the data's fingerprint."""
        _check_name("strategy", strategy)
        created = (now or datetime.now(UTC)).astimezone(UTC)
        fingerprint = data_fingerprint(data)
        version = f"{created:%Y%m%dT%H%M%SZ}-{fingerprint[:8]}"
        payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        card = ModelCard(
            strategy=strategy,
            version=version,
            created_at=created.isoformat(),
            feature_names=list(model.feature_names),
            feature_hash=feature_hash(model.feature_names),
            training_window=dict(training_window),
            data_fingerprint=fingerprint,
            samples=len(data),
            metrics=report.as_dict(),
            library_versions=_library_versions(),
            code_version=os.environ.get("AI_TRADER_COMMIT") or None,
            artifact_sha256=hashlib.sha256(payload).hexdigest(),
            training_config=dict(training_config or {}),
        )
        base = f"models/{strategy}/{version}"
        self.blob.put_bytes(self.container, f"{base}/model.pkl", payload)
        self.blob.put_text(self.container, f"{base}/card.json", json.dumps(asdict(card), sort_keys=True))
        return card

    def decide(
        self,
        card: ModelCard,
        policy: PromotionPolicy,
        *,
        actor: str = "retrain",
        now: datetime | None = None,
    ) -> PromotionDecision:
        """Promote ``card``'s model when it beats the Beta prior by the policy's margin; record either way."""
        model = card.metrics["model"]
        prior = card.metrics["prior"]
        improvement = float(card.metrics["brier_improvement"])
        reasons = []
        if improvement < policy.min_brier_improvement:
            reasons.append(
                f"Brier improvement {improvement:.4f} below the required {policy.min_brier_improvement:.4f}"
            )
        if policy.require_lower_log_loss and not model["log_loss"] < prior["log_loss"]:
            reasons.append(f"log loss {model['log_loss']:.5f} not below the prior's {prior['log_loss']:.5f}")
        if card.feature_hash != feature_hash(FEATURE_NAMES):
            reasons.append("its feature list differs from this code's")
        promoted = not reasons
        previous = self.champion_version(card.strategy)
        decision = PromotionDecision(
            strategy=card.strategy,
            version=card.version,
            promoted=promoted,
            reason="beats the Beta prior out of sample" if promoted else "; ".join(reasons),
            decided_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(),
            actor=actor,
            model_brier=float(model["brier"]),
            prior_brier=float(prior["brier"]),
            brier_improvement=improvement,
            model_log_loss=float(model["log_loss"]),
            prior_log_loss=float(prior["log_loss"]),
            previous_champion=previous,
        )
        if promoted:
            self._set_champion(card.strategy, card.version, push_previous=True)
        self._record(decision)
        return decision

    def restore_previous(self, strategy: str, *, actor: str, reason: str, now: datetime | None = None) -> str:
        """Make the champion before the current one champion again; return its version.

        Raises:
            NotFoundError: there is no earlier champion to restore.
        """
        state = self._champion_state(strategy)
        history: list[str] = list(state.get("history", []))
        if not history:
            raise NotFoundError(f"no earlier champion of {strategy!r} to restore")
        restored = history.pop()
        current = state.get("version")
        self.blob.put_text(
            self.container,
            f"champions/{strategy}.json",
            json.dumps({"version": restored, "history": history}, sort_keys=True),
        )
        card = self.card(strategy, restored)
        self._record(
            PromotionDecision(
                strategy=strategy,
                version=restored,
                promoted=True,
                reason=f"restored by {actor}: {reason}",
                decided_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(),
                actor=actor,
                model_brier=float(card.metrics["model"]["brier"]),
                prior_brier=float(card.metrics["prior"]["brier"]),
                brier_improvement=float(card.metrics["brier_improvement"]),
                model_log_loss=float(card.metrics["model"]["log_loss"]),
                prior_log_loss=float(card.metrics["prior"]["log_loss"]),
                previous_champion=current,
            )
        )
        return restored

    def _set_champion(self, strategy: str, version: str, *, push_previous: bool) -> None:
        state = self._champion_state(strategy)
        history: list[str] = list(state.get("history", []))
        current = state.get("version")
        if push_previous and current and current != version:
            history.append(current)
        self.blob.put_text(
            self.container,
            f"champions/{strategy}.json",
            json.dumps({"version": version, "history": history[-50:]}, sort_keys=True),
        )

    def _record(self, decision: PromotionDecision) -> None:
        stamp = decision.decided_at.replace(":", "").replace("+", "Z")
        self.blob.put_text(
            self.container,
            f"decisions/{decision.strategy}/{stamp}-{decision.version}.json",
            json.dumps(asdict(decision), sort_keys=True),
        )

    # --- reading ------------------------------------------------------------------------
    def _champion_state(self, strategy: str) -> dict[str, Any]:
        _check_name("strategy", strategy)
        try:
            state = json.loads(self.blob.get_text(self.container, f"champions/{strategy}.json"))
        except NotFoundError:
            return {}
        if not isinstance(state, dict):
            raise StorageError(f"champion record of {strategy!r} is not an object")
        return state

    def champion_version(self, strategy: str) -> str | None:
        version = self._champion_state(strategy).get("version")
        return str(version) if version else None

    def card(self, strategy: str, version: str) -> ModelCard:
        _check_name("strategy", strategy)
        _check_name("version", version)
        raw = json.loads(self.blob.get_text(self.container, f"models/{strategy}/{version}/card.json"))
        return ModelCard(**raw)

    def versions(self, strategy: str) -> list[str]:
        _check_name("strategy", strategy)
        keys = self.blob.list(self.container, f"models/{strategy}/")
        return sorted({key.split("/")[2] for key in keys if key.endswith("/card.json")})

    def strategies(self) -> list[str]:
        """Strategies with at least one registered model, by name."""
        keys = self.blob.list(self.container, "models/")
        cards = (key for key in keys if key.count("/") == 3 and key.endswith("/card.json"))
        return sorted({key.split("/")[1] for key in cards})
        return sorted(
            {key.split("/")[1] for key in keys if key.count("/") >= 3 and key.endswith("/card.json")}
        )

    def decisions(self, strategy: str) -> list[PromotionDecision]:
        _check_name("strategy", strategy)
        keys = self.blob.list(self.container, f"decisions/{strategy}/")
        return [PromotionDecision(**json.loads(self.blob.get_text(self.container, key))) for key in keys]

    def load(self, strategy: str, version: str) -> tuple[WinProbabilityModel, ModelCard]:
        """The model ``version`` of ``strategy``, checked against its card before unpickling.

        Raises:
            NotFoundError: no such model.
            StorageError: the stored bytes do not match the card's hash, or the feature list
                differs from this code's.
        """
        card = self.card(strategy, version)
        payload = self.blob.get_bytes(self.container, f"models/{strategy}/{version}/model.pkl")
        if hashlib.sha256(payload).hexdigest() != card.artifact_sha256:
            raise StorageError(
                f"model {strategy}/{version} does not match its card's hash: refusing to load it"
            )
        if card.feature_hash != feature_hash(FEATURE_NAMES):
            raise StorageError(f"model {strategy}/{version} was trained on another feature list")
        model = pickle.loads(payload)  # noqa: S301 - bytes verified against the registry's own hash above
        if not isinstance(model, WinProbabilityModel):
            raise StorageError(f"model {strategy}/{version} is not a win-probability model")
        return model, card

    def load_champion(self, strategy: str) -> tuple[WinProbabilityModel, ModelCard] | None:
        """The promoted model of ``strategy``, or None when the Beta prior is in charge."""
        version = self.champion_version(strategy)
        return None if version is None else self.load(strategy, version)
