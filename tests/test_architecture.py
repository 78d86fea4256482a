"""The import contract between the packages (DESIGN.md, 'who may import whom')."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("tracer", "collector", "analytics", "replay", "dashboards", "loadtest")
# Project packages each package may import (itself always).
ALLOWED = {
    "tracer": set(),
    "collector": {"tracer.semconv"},
    "analytics": {"collector", "tracer.semconv"},
    "replay": {"tracer", "collector", "analytics"},
    "dashboards": {"analytics", "collector", "replay"},
    "loadtest": {"tracer", "analytics", "collector"},
}
# What an agent that only traces has installed, besides the standard library.
TRACER_THIRD_PARTY = {"opentelemetry", "typing_extensions"}
HEAVY = ("fastapi", "polars", "dash", "clickhouse_connect", "locust", "gevent", "typer", "chdb")


def imports(path: Path, *, module_level_only: bool = False) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    if module_level_only:  # also what sits under top-level try/if blocks, but not in functions
        nodes = [n for top in tree.body for n in ast.walk(top) if not _in_function(top, n)]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _in_function(top: ast.stmt, node: ast.AST) -> bool:
    if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node is not top
    return False


def allowed(package: str, module: str) -> bool:
    root = module.split(".")[0]
    if root not in PACKAGES or root == package:
        return True
    return any(module == a or module.startswith(a + ".") for a in ALLOWED[package])


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_the_design_allows(package: str) -> None:
    violations = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for line, module in imports(path)
        if not allowed(package, module)
    ]
    assert violations == []


def test_tracer_needs_only_opentelemetry_at_import_time() -> None:
    stdlib = set(sys.stdlib_module_names)
    violations = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for path in sorted((REPO_ROOT / "tracer").rglob("*.py"))
        for line, module in imports(path, module_level_only=True)
        if module.split(".")[0] not in stdlib | TRACER_THIRD_PARTY | {"tracer", "__future__"}
    ]
    assert violations == []


def test_importing_the_tracer_loads_no_server_dependency() -> None:
    code = (
        "import sys, tracer, tracer.semconv\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert result.stdout.strip() == ""
