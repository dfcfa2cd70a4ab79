"""The architecture, checked: layer contracts, no import cycles, small modules and functions.

The layer contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and run
through import-linter as a user would (``lint-imports``). Cycles are found on
grimp's graph of every import in the package, those inside functions and under
``TYPE_CHECKING`` included. Sizes are counted in source lines by ``ast``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "redundancy"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def test_the_layer_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout, done.stdout[-2000:]


def _layers() -> list[str]:
    """The modules the layers contract names, in every layer."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [m.strip() for line in contract["layers"] for m in line.replace(":", "|").split("|")]


def test_every_module_belongs_to_a_layer() -> None:
    """The contract leaves nothing out: each module is a layer or inside one. The root package is the
    namespace every layer lives in (it re-exports ``open_store`` and ``__version__``); a package whose
    own module imports nothing of the project (``redundancy.spec``) is only a namespace too."""
    named = _layers()
    graph = grimp.build_graph("redundancy", include_external_packages=False, cache_dir=None)
    outside = sorted(m for m in graph.modules
                     if m != "redundancy" and not any(m == n or m.startswith(n + ".") for n in named)
                     and not (graph.find_children(m) and not graph.find_modules_directly_imported_by(m)))
    assert not outside, f"modules in no layer of pyproject's [tool.importlinter] contract: {outside}"


def cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted; iterative, so deep graphs are fine."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    out.append(sorted(group))
    return out


def test_cycles_finds_a_cycle_and_nothing_else() -> None:
    class Graph:
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}

        def find_modules_directly_imported_by(self, m: str) -> set[str]:
            return set(self.edges[m])

    assert cycles(Graph(), set(Graph.edges)) == [["a", "b", "c"]]  # type: ignore[arg-type]


def test_no_import_cycles_lazy_imports_included() -> None:
    graph = grimp.build_graph("redundancy", include_external_packages=False, cache_dir=None)
    found = cycles(graph, set(graph.modules))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("limit", [MAX_MODULE_LINES])
def test_no_module_is_over_the_size_limit(limit: int) -> None:
    big = {str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text(encoding="utf-8").splitlines())) > limit}
    assert not big, f"modules over {limit} lines: {big}"


def test_no_function_is_over_the_size_limit() -> None:
    long: dict[str, int] = {}
    for p in _sources():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(ROOT)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_study_kind_imports_another_kind() -> None:
    """What kinds share lives in ``studies/common``; a kind's package imports no other kind's (so a new kind
    needs no line in any contract: every package under ``studies/`` but ``common`` is a kind)."""
    graph = grimp.build_graph("redundancy", include_external_packages=False, cache_dir=None)
    kinds = sorted(m for m in graph.find_children("redundancy.studies")
                   if graph.find_children(m) and m != "redundancy.studies.common")
    assert len(kinds) >= 6, kinds
    crossing = sorted(
        f"{importer} -> {imported}"
        for kind in kinds
        for importer in {kind, *graph.find_descendants(kind)}
        for imported in graph.find_modules_directly_imported_by(importer)
        if any(imported == other or imported.startswith(other + ".") for other in kinds if other != kind)
    )
    assert not crossing, "a kind imports another kind: " + "; ".join(crossing)
