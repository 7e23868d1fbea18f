"""Layering rules checked on the source: SQL only in ``app/storage``; pure packages import no adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

DATABASE_LIBRARIES = ("sqlalchemy", "alembic")
PURE_PACKAGES = ("app.domain", "app.risk")
"""Packages whose modules hold values and rules only: no storage, bus, broker or vendor import."""
ADAPTERS = ("app.storage", "app.bus", "app.execution", "app.dal", "app.api", "app.workers")


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
    return found


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in packages)


MODULES = {_module_name(path): _imports(path) for path in sorted(APP.rglob("*.py"))}


def test_the_walk_sees_the_app_and_its_repositories() -> None:
    assert "app.storage.repositories.orders" in MODULES
    assert any(_within(name, ("sqlalchemy",)) for name in MODULES["app.storage.repositories.orders"])


def test_only_app_storage_imports_the_database_libraries() -> None:
    offenders = {
        module: sorted(name for name in imported if _within(name, DATABASE_LIBRARIES))
        for module, imported in MODULES.items()
        if not _within(module, ("app.storage",))
    }
    assert {module: names for module, names in offenders.items() if names} == {}


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_import_no_adapter(package: str) -> None:
    offenders = {
        module: sorted(name for name in imported if _within(name, ADAPTERS))
        for module, imported in MODULES.items()
        if _within(module, (package,))
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_no_query_is_built_outside_app_storage() -> None:
    """``select(`` is how a query starts; outside app/storage there is none, even in a string."""
    offenders = [
        str(path.relative_to(APP.parent))
        for path in sorted(APP.rglob("*.py"))
        if not _within(_module_name(path), ("app.storage",)) and "select(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
