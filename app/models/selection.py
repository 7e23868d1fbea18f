"""Which win probabilities a run sizes with: ``--prior-model beta|promoted|<version>``.

* ``beta``: the Beta-Binomial priors (the default of backtests and sweeps);
* ``promoted``: the registry's champion model of the strategy, or the Beta priors when none
  is promoted or loading it fails (the failure is logged; the run goes on, sized as before);
* ``<version>``: exactly that registered model; a missing or unloadable one is an error.

The router uses ``promoted``. :class:`PriorModels` caches loaded models by version, so a
process loads each model once; the champion record itself is read on every resolve, so a
promotion or a restore is picked up by the next run.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from app.errors import InputError, NotFoundError
from app.models.registry import ModelCard, ModelRegistry
from app.models.training import WinProbabilityModel

__all__ = ["PRIOR_MODEL_HELP", "PriorChoice", "PriorModels", "check_prior_model"]

log = logging.getLogger(__name__)

PRIOR_MODEL_HELP = (
    "win probabilities to size with: 'beta' (Beta priors), 'promoted' (the strategy's champion "
    "model, Beta when none) or a model version"
)
_VERSION = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,79}$")


def check_prior_model(value: str) -> str:
    """``value`` normalised: ``beta``, ``promoted`` or a version name.

    Raises:
        InputError: not one of those (a version is letters, digits, '_', '-', '.').
    """
    clean = value.strip()
    if clean.lower() in ("beta", "promoted"):
        return clean.lower()
    if not _VERSION.match(clean):
        raise InputError(
            f"prior model {value!r}: use 'beta', 'promoted' or a model version "
            "(letters, digits, '_', '-', '.')"
        )
    return clean


@dataclass(frozen=True, slots=True)
class PriorChoice:
    """What a run sizes with, and why."""

    requested: str
    model: WinProbabilityModel | None
    version: str | None
    fallback_reason: str | None = None

    @property
    def source(self) -> Literal["beta", "model"]:
        return "beta" if self.model is None else "model"

    @property
    def event(self) -> str:
        """``priors:model:<version>`` or ``priors:beta`` (the router's event)."""
        return f"priors:model:{self.version}" if self.model is not None else "priors:beta"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "requested": self.requested,
            "source": self.source,
            "version": self.version,
            "fallback_reason": self.fallback_reason,
        }


BETA = PriorChoice(requested="beta", model=None, version=None)


class PriorModels:
    """Resolves a ``prior_model`` value to a loaded model through the model registry.

    ``registry`` is a factory (the composition root's blob store is opened only by a run that
    asks for a model) or ``None`` when no registry is configured.
    """

    def __init__(self, registry: Callable[[], ModelRegistry] | None) -> None:
        self._registry = registry
        self._cache: dict[tuple[str, str], tuple[WinProbabilityModel, ModelCard]] = {}
        self._lock = threading.Lock()

    def _load(self, strategy: str, version: str) -> WinProbabilityModel:
        key = (strategy, version)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit[0]
        loaded = self._open().load(strategy, version)
        with self._lock:
            self._cache[key] = loaded
        return loaded[0]

    def _open(self) -> ModelRegistry:
        if self._registry is None:
            raise InputError("a prior model was asked for, but no model registry is configured")
        return self._registry()

    def resolve(self, strategy: str, prior_model: str) -> PriorChoice:
        """The model ``prior_model`` names for ``strategy``.

        Raises:
            InputError: a bad value, or a version asked for without a registry.
            NotFoundError: the named version is not registered.
            StorageError: the named version cannot be loaded (hash or feature list differ).
        """
        requested = check_prior_model(prior_model)
        if requested == "beta":
            return BETA
        if requested == "promoted":
            if self._registry is None:
                return PriorChoice(requested, None, None, "no model registry configured")
            try:
                version = self._open().champion_version(strategy)
                if version is None:
                    return PriorChoice(requested, None, None, "no promoted model")
                return PriorChoice(requested, self._load(strategy, version), version)
            except Exception as exc:  # any failure falls back to the Beta priors, loudly
                log.warning(
                    "promoted model of %s not loaded, sizing with the Beta priors: %s: %s",
                    strategy,
                    type(exc).__name__,
                    exc,
                )
                return PriorChoice(requested, None, None, f"loading failed: {type(exc).__name__}")
        try:
            model = self._load(strategy, requested)
        except NotFoundError as exc:
            raise NotFoundError(f"no model {requested!r} of strategy {strategy!r} in the registry") from exc
        return PriorChoice(requested, model, requested)
