"""Which parts of the package may import which, read from its source with ``ast``."""

from __future__ import annotations

import ast
import graphlib
import importlib.util
from pathlib import Path

import pytest

P = "pytest_llmbench"
ROOT = Path(__file__).parents[1] / P
FILES = {".".join(p.relative_to(ROOT.parent).with_suffix("").parts): p for p in ROOT.rglob("*.py")}
FILES = {name.removesuffix(".__init__"): path for name, path in FILES.items()}


def ours(*names: str) -> list[str]:
    return [f"{P}.{name}" for name in names]


FORBIDDEN = {  # subpackage: what none of its modules may import, however lazily
    "results": ["pytest", "_pytest", "httpx", *ours("judging", "run")],
    "reporting": ["pytest", "_pytest"],
    "benchmark": ours("judging", "results", "reporting", "run", "cli", "datasets"),
    "datasets": ["pytest", "_pytest", *ours("judging", "run", "reporting", "cli")],
}


def imports(module: str) -> set[tuple[str, bool]]:
    """(module imported, whether importing `module` runs that import: not when the import is
    inside a function, or typing-only under ``if TYPE_CHECKING:``), for every import."""
    package = module if FILES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: set[tuple[str, bool]] = set()

    def visit(node: ast.AST, runs: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.update((alias.name, runs) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):  # `from package import module` or a name
                base = importlib.util.resolve_name(
                    "." * child.level + (child.module or ""), package
                )
                names = (f"{base}.{alias.name}" for alias in child.names)
                found.update((name if name in FILES else base, runs) for name in names)
            lazy = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            typing = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            visit(child, runs and not lazy and not typing)

    visit(ast.parse(FILES[module].read_text(encoding="utf-8")), True)
    return found


def under(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(f"{prefix}.") for prefix in prefixes)


@pytest.mark.parametrize("subpackage", FORBIDDEN)
def test_a_subpackage_imports_nothing_it_must_not(subpackage: str) -> None:
    found = [
        f"{module} imports {name}"
        for module in FILES
        if under(module, *ours(subpackage))
        for name, _ in imports(module)
        if under(name, *FORBIDDEN[subpackage])
    ]
    assert not found, "\n".join(sorted(found))


def test_the_modules_every_pytest_run_loads_import_no_subpackage_on_import() -> None:
    subpackages = [m for m, path in FILES.items() if path.name == "__init__.py" and m != P]
    top = ours("plugin", "options", "config_file", "hookspecs", "warning")
    found = [
        f"{m} imports {n}" for m in top for n, runs in imports(m) if runs and under(n, *subpackages)
    ]
    assert not found, "\n".join(sorted(found))


def test_no_import_cycles_among_the_imports_that_run_on_import() -> None:
    graph = {module: {n for n, runs in imports(module) if runs and n in FILES} for module in FILES}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:  # args[1]: the cycle, each module imported by the next
        pytest.fail("import cycle: " + " imports ".join(reversed(error.args[1])))
