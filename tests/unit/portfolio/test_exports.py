"""The portfolio, account-view and schedule modules export exactly their public names."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "app.portfolio",
    "app.portfolio.book",
    "app.portfolio.marking",
    "app.portfolio.reconcile",
    "app.domain.accounts",
    "app.workers.schedule",
    "app.workers.scheduler",
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


def test_the_portfolio_package_does_no_io() -> None:
    for name in MODULES[:4]:
        source = inspect.getsource(importlib.import_module(name))
        for forbidden in ("sqlalchemy", "httpx", "requests", "open(", "app.storage", "app.execution"):
            assert forbidden not in source, f"{name} mentions {forbidden}"
