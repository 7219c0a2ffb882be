"""The floor plan (docs/architecture.md): each module imports only from its own floor or the
floors below it, a stage's service imports no other service, the stages are wired by the
chain's table and not by imports made for their side effects, and no two modules import
each other, directly or round a loop."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from shared.engine.chain import STAGES, STEPS

ROOT = Path(__file__).resolve().parents[1]
# Lowest first: a module may import from its own floor and those below it.
FLOORS = ("shared.infra", "shared.domain", "shared.engine", "services", "catalog")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path for top in ("shared", "services", "catalog") for path in sorted((ROOT / top).rglob("*.py"))
}


def imports(path: Path) -> set[str]:
    """The project modules a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from package import module` imports the module; `from module import name`, the module.
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            ]
        else:
            continue
        found |= {name for name in names if name.split(".")[0] in ("shared", "services", "catalog")}
    return found


def floor(module: str) -> int:
    for level, prefix in enumerate(FLOORS):
        if module == prefix or module.startswith(prefix + "."):
            return level
    raise AssertionError(f"{module} is on no floor: put it in one of {FLOORS}")


def service(module: str) -> str | None:
    """The service a module belongs to (services.pose.people -> pose)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 2 else None


def test_every_module_is_on_a_floor():
    for module in MODULES:
        if module not in ("shared", "services"):  # the packages above the floors
            floor(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_from_its_floor_or_below(module):
    if module in ("shared", "services"):
        return
    for imported in imports(MODULES[module]):
        assert floor(imported) <= floor(module), f"{module} imports {imported}, a floor above it"
        if service(module) and service(imported):
            assert service(imported) == service(module), f"{module} imports another service's {imported}"


def test_no_import_loops() -> None:
    graph = {m: {i for i in imports(p) if i in MODULES} for m, p in MODULES.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            loop = path[path.index(module) :] + [module]
            raise AssertionError("import loop: " + " -> ".join(loop))
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_no_import_is_made_for_its_side_effect():
    for module, path in MODULES.items():
        assert "noqa: F401" not in path.read_text(), f"{module} imports a module only for its side effect"


@pytest.mark.parametrize("stage", STAGES)
def test_the_chain_names_a_function_for_each_step(stage):
    assert STEPS[stage]
    for step in STEPS[stage]:
        module, _, function = step.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), step
