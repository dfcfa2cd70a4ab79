"""The test suite's own layout: shared code in ``tests/support/``, shared fixtures in ``tests/conftest.py``,
and test modules that stand alone.

A test module that imports another runs the other's module-level code (and drags in its fixtures)
wherever it is imported, and one that edits ``sys.path`` leaves it edited for every test that runs
after it: either makes a test's outcome depend on which others ran. Sources are read with ``ast``,
so imports inside functions count too; ``sys.path`` may change only through pytest's
``monkeypatch``, which undoes the change when the test ends.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TEST_MODULES = sorted(TESTS.glob("test_*.py"))
# what no file of the suite may import: a test module, or conftest.py (pytest loads it; fixtures reach tests by name)
FORBIDDEN = {p.stem for p in TEST_MODULES} | {"conftest"}
# methods that change a list in place
MUTATORS = {"append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "__setitem__", "__delitem__", "__iadd__"}


def _imported(node: ast.AST) -> list[str]:
    """Every dotted name an import statement, ``importlib.import_module`` or ``__import__`` call names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        return [base, *(f"{base}.{a.name}" if base else a.name for a in node.names)]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__"):
            return [node.args[0].value]
    return []


def _is_sys_path(node: ast.AST, sys_names: set[str]) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id in sys_names


def import_problems(source: str) -> list[str]:
    """Imports of a test module (or of conftest), one ``line N: ...`` each."""
    out = []
    for node in ast.walk(ast.parse(source)):
        for name in _imported(node):
            hits = [part for part in name.split(".") if part in FORBIDDEN]
            if hits:
                out.append(f"line {node.lineno}: imports {name!r}, a test module or conftest; shared code belongs in tests/support/")
                break
    return out


def sys_path_problems(source: str) -> list[str]:
    """Changes to ``sys.path`` made other than through pytest's monkeypatch, one ``line N: ...`` each."""
    tree = ast.parse(source)
    sys_names = {"sys"} | {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names if a.name == "sys" and a.asname}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "path" for a in node.names):
            out.append(f"line {node.lineno}: imports sys.path by name")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in MUTATORS and _is_sys_path(node.func.value, sys_names):
                out.append(f"line {node.lineno}: sys.path.{node.func.attr}(...)")
            elif node.func.attr == "addsitedir" and isinstance(node.func.value, ast.Name) and node.func.value.id == "site":
                out.append(f"line {node.lineno}: site.addsitedir(...) puts a folder on sys.path")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if _is_sys_path(target, sys_names) or (isinstance(target, ast.Subscript) and _is_sys_path(target.value, sys_names)):
                    out.append(f"line {node.lineno}: assigns to sys.path")
    return out


def test_shared_fixtures_live_in_conftest_and_shared_code_in_the_support_package() -> None:
    conftest = TESTS / "conftest.py"
    assert conftest.is_file(), "tests/conftest.py holds the fixtures several test modules share"
    fixtures = [n for n in ast.walk(ast.parse(conftest.read_text(encoding="utf-8"))) if isinstance(n, ast.FunctionDef)
                and any("fixture" in ast.unparse(d) for d in n.decorator_list)]
    assert fixtures, "tests/conftest.py defines no fixture"
    assert (TESTS / "support" / "__init__.py").is_file(), "tests/support/ is a package"
    loose = sorted(p.name for p in TESTS.glob("*.py") if p.name != "conftest.py" and not p.name.startswith("test_"))
    assert not loose, f"code the tests share goes in tests/support/, not beside the tests: {loose}"
    helpers = sorted(p.name for p in TEST_MODULES if not any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test") for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))))
    assert not helpers, f"a test_*.py without a test is shared code: move it to tests/support/: {helpers}"


@pytest.mark.parametrize("path", TEST_MODULES, ids=lambda p: p.name)
def test_a_test_module_imports_no_other_and_leaves_sys_path_alone(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    problems = import_problems(source) + sys_path_problems(source)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_support_code_imports_no_test_module_and_leaves_sys_path_alone() -> None:
    imported = [TESTS / "conftest.py", *sorted((TESTS / "support").rglob("*.py"))]
    scripts = sorted((TESTS / "frozen").rglob("*.py"))  # run as `python tests/frozen/x.py`: they put tests/ on sys.path themselves
    problems = [f"{p.relative_to(TESTS)} {line}" for p in imported + scripts for line in import_problems(p.read_text(encoding="utf-8"))]
    problems += [f"{p.relative_to(TESTS)} {line}" for p in imported for line in sys_path_problems(p.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


OTHER = TEST_MODULES[0].stem  # any test module
FORBIDDEN_SOURCES = {
    "import": f"import {OTHER}\n",
    "from import": f"from {OTHER} import helper\n",
    "package import": f"from tests.{OTHER} import helper\n",
    "module from a package": f"from tests import {OTHER}\n",
    "relative": f"from . import {OTHER}\n",
    "inside a function": f"def f():\n    from {OTHER} import helper\n",
    "conftest": "from conftest import tui_sample\n",
    "import_module": f"import importlib\nimportlib.import_module({OTHER!r})\n",
    "insert": "import sys\nsys.path.insert(0, 'tests')\n",
    "append under an alias": "import sys as system\nsystem.path.append('tests')\n",
    "assignment": "import sys\nsys.path = ['tests', *sys.path]\n",
    "slice assignment": "import sys\nsys.path[:0] = ['tests']\n",
    "augmented": "import sys\nsys.path += ['tests']\n",
    "by name": "from sys import path\npath.insert(0, 'tests')\n",
    "site": "import site\nsite.addsitedir('tests')\n",
}


@pytest.mark.parametrize("source", FORBIDDEN_SOURCES.values(), ids=FORBIDDEN_SOURCES.keys())
def test_the_checks_see_each_way_of_breaking_the_rules(source: str) -> None:
    assert import_problems(source) + sys_path_problems(source)


def test_the_checks_let_support_imports_and_monkeypatched_paths_pass() -> None:
    source = (
        "import sys\n"
        "from support.tiny import run_spec\n"
        "from support import grid_study\n"
        "from redundancy.data import load_data\n"
        "def test_x(monkeypatch):\n"
        "    monkeypatch.syspath_prepend('plugins')\n"
        "    monkeypatch.setattr(sys, 'path', [p for p in sys.path if p != 'plugins'])\n"
        "    assert 'plugins' not in sys.path and sys.path.index(sys.path[0]) == 0\n"
    )
    assert import_problems(source) == [] and sys_path_problems(source) == []
