"""The package's import contract on the source: what each part may load, no cycles, tests that
mirror modules (tests/integration/test_import_contract_runtime.py checks a real interpreter)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "qi_load"
HEAVY = ("pandas", "matplotlib")
# Locust processes import these parts; the report's libraries would slow every worker's start.
LIVE = ("qi_load.generate", "qi_load.record", "qi_load.monitor")
# The report and compare commands load their libraries inside run(), not at import.
LAZY_COMMANDS = ("qi_load.commands.report", "qi_load.commands.compare")
# The reference agent ships alone: it reaches only itself and the shared modules below, which
# reach only each other (the package root holds the version and nothing else).
AGENT = ("qi_load.agent",)
SHARED = (
    "qi_load.vocabulary",
    "qi_load.units",
    "qi_load.errors",
    "qi_load.yamlconf",
    "qi_load.process",
    # The exit codes' one home; it loads each command lazily, so it stays this small.
    "qi_load.cli",
)

# Known violations, each being removed on its own branch; the lists only ever shrink.
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}
ALLOWED_AGENT_IMPORTS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")
"""The fields that hold statements (``handlers`` and ``cases`` hold blocks that do)."""


def _imports(tree: ast.AST, at_import_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements; ``at_import_only`` skips function bodies and TYPE_CHECKING blocks.
    Only a statement can import, so only statement blocks are walked, never an expression's
    nodes (most of a tree)."""
    for field in _BLOCKS:
        block = getattr(tree, field, None)
        if not isinstance(block, list):
            continue
        for node in block:
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node
            elif at_import_only and (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                or (isinstance(node, ast.If) and _is_type_checking(node))
            ):
                continue
            else:
                yield from _imports(node, at_import_only)


def _resolve(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """Absolute names a statement imports: qi_load modules exactly, others by top-level name."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        is_package = _modules()[module].name == "__init__.py"
        anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
        base = ".".join([*anchor, base] if base else anchor)
    yield base
    for alias in node.names:
        if f"{base}.{alias.name}" in _modules():
            yield f"{base}.{alias.name}"


@cache
def _trees() -> dict[str, ast.Module]:
    """Every module parsed once, for both graphs (parsing is most of their cost)."""
    return {
        module: ast.parse(path.read_text(encoding="utf-8"), str(path))
        for module, path in _modules().items()
    }


@cache
def _edges(at_import_only: bool) -> dict[str, frozenset[str]]:
    """Module -> the qi_load modules and third-party top-level packages it imports."""
    graph = {}
    for module, tree in _trees().items():
        found = set()
        for node in _imports(tree, at_import_only):
            for name in _resolve(module, node):
                found.add(name if name.startswith("qi_load") else name.split(".")[0])
        graph[module] = frozenset(found - {module})
    return graph


def _cycles(graph: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root] & graph.keys())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child] & graph.keys()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _reaches(graph: dict[str, frozenset[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        module = todo.pop()
        if module == goal:
            return True
        for name in graph.get(module, frozenset()) - seen:
            seen.add(name)
            todo.append(name)
    return False


def test_no_import_cycles_between_modules() -> None:
    # Every import counts, even inside a function: a lazy import hides a cycle, it does not end it.
    graph = _edges(at_import_only=False)
    pruned = {
        m: names - {b for a, b in ALLOWED_CYCLE_EDGES if a == m} for m, names in graph.items()
    }
    cycles = [sorted(c) for c in _cycles(pruned)]
    assert not cycles, f"import cycles: {cycles}"
    stale = [
        (a, b) for a, b in ALLOWED_CYCLE_EDGES if not _reaches(graph, b, a) or b not in graph[a]
    ]
    assert not stale, f"remove from ALLOWED_CYCLE_EDGES, no longer closing a cycle: {stale}"


def _reachable(graph: dict[str, frozenset[str]], starts: list[str]) -> set[str]:
    seen, todo = set(starts), list(starts)
    while todo:
        for name in graph[todo.pop()] & graph.keys() - seen:
            seen.add(name)
            todo.append(name)
    return seen


def test_the_agent_reaches_only_itself_and_the_shared_modules() -> None:
    # Every import counts: the agent's image and its start must not pull in the generator.
    graph = _edges(at_import_only=False)
    reached = _reachable(graph, [m for m in graph if _within(m, AGENT)])
    found = {
        (module, name)
        for module in reached
        for name in graph[module]
        if name.startswith("qi_load") and name != "qi_load" and not _within(name, AGENT + SHARED)
    }
    assert found <= ALLOWED_AGENT_IMPORTS.keys(), sorted(found - ALLOWED_AGENT_IMPORTS.keys())
    fixed = sorted(ALLOWED_AGENT_IMPORTS.keys() - found)
    assert not fixed, f"remove from ALLOWED_AGENT_IMPORTS, no longer imported: {fixed}"


def test_live_parts_never_reach_pandas_or_matplotlib_at_import() -> None:
    graph = _edges(at_import_only=True)
    for start in (m for m in graph if _within(m, LIVE + LAZY_COMMANDS)):
        seen, todo = {start}, [start]
        while todo:
            module = todo.pop()
            heavy = graph[module] & set(HEAVY)
            assert not heavy, f"{start} imports {sorted(heavy)} through {module}"
            for name in graph[module] & graph.keys() - seen:
                seen.add(name)
                todo.append(name)


@cache
def _names_in(home: Path) -> frozenset[str]:
    """Module and package names in ``home``: listed once for the ~130 test files."""
    return frozenset(
        {p.stem for p in home.glob("*.py")} | {p.name for p in home.iterdir() if p.is_dir()}
    )


def _test_files() -> list[Path]:
    return sorted((REPO / "tests" / "unit").rglob("test_*.py"))


@pytest.mark.parametrize("path", _test_files(), ids=lambda p: p.name)
def test_unit_tests_mirror_modules(path: Path) -> None:
    """tests/unit/<pkg>/test_<pkg>_<module>[_<topic>].py names a module of qi_load/<pkg>/
    (or of a repository directory such as benchmarks/); top-level ones name qi_load/<module>.py
    or a cross-cutting contract."""
    rel = path.relative_to(REPO / "tests" / "unit")
    stem = path.stem.removeprefix("test_")
    if len(rel.parts) == 1:
        home, prefix = PACKAGE, ""
    else:
        pkg = rel.parts[0]
        home = PACKAGE / pkg if (PACKAGE / pkg).is_dir() else REPO / pkg
        prefix = f"{pkg}_"
        assert stem.startswith(prefix), f"{rel}: name it test_{pkg}_<module>.py"
    rest = stem.removeprefix(prefix)
    names = _names_in(home)
    assert rest == "import_contract" or any(rest == n or rest.startswith(n + "_") for n in names), (
        f"{rel}: no module {home.relative_to(REPO)}/<{rest} or a prefix of it>.py"
    )


def test_test_basenames_are_unique() -> None:
    names = [p.name for p in (REPO / "tests").rglob("test_*.py")]
    assert sorted(names) == sorted(set(names))
