"""The strategy registry: every strategy module registers its class here, by name.

A strategy is one file in ``app/strategies/`` (found and imported by the package) whose class
is decorated with :func:`register_strategy`; backtests, sweeps, the router and the scheduler
look it up by name through :func:`get_strategy` / :func:`strategy_class`. Nothing else names
strategies, so adding one touches that one file.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from app.errors import InputError
from app.strategies.base import BatchKernel, Strategy

__all__ = ["STRATEGIES", "get_strategy", "register_strategy", "strategy_class", "unregister_strategy"]

S = TypeVar("S", bound=type[Strategy])

STRATEGIES: dict[str, type[Strategy]] = {}
"""Registered strategies by name (read it; change it through register/unregister)."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def register_strategy(cls: S) -> S:
    """Register ``cls`` under its ``name`` (use as a class decorator) and return it.

    Raises:
        TypeError: ``cls`` is not a dataclass :class:`Strategy`, a parameter is neither ``int``
            nor ``float``, or ``batch`` is neither ``None`` nor a :class:`BatchKernel`.
        ValueError: the name is malformed, or another class already has it.
    """
    if not (isinstance(cls, type) and issubclass(cls, Strategy) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass subclass of Strategy")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{cls.__qualname__}: strategy name must match {_NAME.pattern}, got {name!r}")
    cls.param_dtypes()  # every parameter must map to a sweep column type
    batch = cls.batch
    if batch is not None and not isinstance(batch, BatchKernel):
        raise TypeError(f"strategy {name!r}: batch must be a BatchKernel or None, got {batch!r}")
    known = STRATEGIES.get(name)
    if known is not None and known is not cls:
        raise ValueError(
            f"strategy {name!r} is already registered by {known.__module__}.{known.__qualname__}"
        )
    STRATEGIES[name] = cls
    return cls


def unregister_strategy(name: str) -> None:
    """Remove the strategy called ``name`` (for plugins and tests).

    Raises:
        InputError: no strategy has that name.
    """
    if STRATEGIES.pop(name, None) is None:
        raise InputError(f"unknown strategy {name!r}")


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name``.

    Raises:
        InputError: the name is unknown.
    """
    cls = STRATEGIES.get(name)
    if cls is None:
        raise InputError(f"unknown strategy {name!r} (known: {', '.join(sorted(STRATEGIES))})")
    return cls


def get_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """Return the strategy called ``name`` built from ``params`` (defaults for missing keys).

    Raises:
        InputError: the name is unknown, or a parameter is unknown or invalid.
    """
    return strategy_class(name).from_params(params)
