"""The package layout holds: import-linter contracts (pyproject ``[tool.importlinter]``) and no
import cycle between the top-level packages of ``app/`` (see docs/architecture.md)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app"
_BESIDE_PYTHON = Path(sys.executable).parent / "lint-imports"
LINT_IMPORTS = (
    str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else (shutil.which("lint-imports") or "lint-imports")
)


def _config() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as fh:
        config: dict[str, Any] = tomllib.load(fh)["tool"]["importlinter"]
    return config


def _ini_value(value: Any) -> str:
    if isinstance(value, list):
        return "".join(f"\n    {item}" for item in value)
    return str(value)


def _lint(config: dict[str, Any], contract_ids: list[str], folder: Path, cache: Path) -> bool:
    """Run ``lint-imports`` on ``config`` limited to ``contract_ids`` (in a child process: the
    linter reconfigures logging process-wide)."""
    lines = ["[importlinter]"]
    lines += [f"{key} = {_ini_value(value)}" for key, value in config.items() if key != "contracts"]
    for contract in config["contracts"]:
        lines.append(f"[importlinter:contract:{contract['id']}]")
        lines += [f"{key} = {_ini_value(value)}" for key, value in contract.items() if key != "id"]
    path = folder / "importlinter.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [LINT_IMPORTS, str(path), "--no-logo", "--cache-dir", str(cache)]
    for contract_id in contract_ids:
        command += ["--contract", contract_id]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: a contract is broken
    return proc.returncode == 0


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("import_linter_cache")


def test_every_contract_holds_except_the_pending_ones(tmp_path: Path, cache: Path) -> None:
    config = _config()
    ids = [contract["id"] for contract in config["contracts"]]
    assert {"layers", "domain-pure", "decision-pure", "risk-pure", "sql-in-storage"} <= set(ids)
    assert _lint(config, ids, tmp_path, cache), (
        f"an import contract of {ids} is broken: run `lint-imports` for the offending imports"
    )


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "app" else None


ENTRY_POINT_SHIMS = frozenset({"app.backtest.run_breakout", "app.backtest.precompile"})
"""Modules that exist only so a runbook command keeps its name (``python -m
app.backtest.run_breakout`` is ``ai-trader backtest run``): they sit above every layer, like
the CLI they forward to, and are left out of the package graph (import-linter's ``layers``
contract ignores the same import)."""


def package_imports() -> dict[str, dict[str, list[str]]]:
    """Top-level package -> imported top-level package -> where (``file:line``), from every
    import in ``app/`` (inside functions too); relative imports resolved."""
    arrows: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(APP.rglob("*.py")):
        module = _module_name(path)
        source = _package(module)
        if source is None or module in ENTRY_POINT_SHIMS:
            continue
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                    targets = [".".join([*base, node.module] if node.module else base)]
                elif node.module:
                    targets = [node.module]
            for target in targets:
                imported = _package(target)
                if imported is not None and imported != source:
                    arrows[source][imported].append(f"{path.relative_to(REPO)}:{node.lineno}")
    return arrows


def import_cycles(arrows: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in arrows.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(arrows):
        if node not in index:
            visit(node)
    return groups


def test_the_cycle_finder_sees_a_cycle() -> None:
    arrows: dict[str, dict[str, list[str]]] = {
        "a": {"b": ["x:1"]},
        "b": {"c": ["x:2"]},
        "c": {"a": ["x:3"]},
        "d": {"a": ["x:4"]},
    }
    assert import_cycles(arrows) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b": ["x:1"]}, "b": {}}) == []


def test_no_import_cycle_between_top_level_packages() -> None:
    arrows = package_imports()
    assert {"decision", "strategies", "risk", "router", "backtest", "workers"} <= set(arrows)
    cycles = import_cycles(arrows)
    details = [
        f"{a} -> {b} ({', '.join(arrows[a][b][:3])})"
        for group in cycles
        for a in group
        for b in group
        if b in arrows[a]
    ]
    assert not cycles, f"package import cycles {cycles}: " + "; ".join(details)


def test_the_decision_packages_import_only_core_packages() -> None:
    arrows = package_imports()
    core = {"decision", "strategies", "risk", "domain", "config", "errors", "observability"}
    for package in ("decision", "strategies"):
        outside = {target: where for target, where in arrows[package].items() if target not in core}
        assert not outside, f"app.{package} imports {outside}"
