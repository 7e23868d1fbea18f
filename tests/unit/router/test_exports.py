"""The router, execution and kill-switch modules export exactly their public names."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "app.router",
    "app.router.graph",
    "app.router.nodes",
    "app.router.schemas",
    "app.router.state",
    "app.router.service",
    "app.router.offline",
    "app.execution",
    "app.execution.ports",
    "app.execution.factory",
    "app.execution.simulated",
    "app.execution.alpaca.config",
    "app.execution.alpaca.parsing",
    "app.execution.alpaca.broker",
    "app.risk.kill_switch",
    "app.risk.guard",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_cover_public_definitions(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert exported and all(hasattr(module, item) for item in exported), name
    defined_here = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and getattr(value, "__module__", None) == name
    }
    assert defined_here <= exported, f"{name} does not export {sorted(defined_here - exported)}"
