"""The store format has one owner: no module outside ``redundancy/store/`` spells its paths or attribute names.

String literals (docstrings aside) of every module under ``redundancy/`` are
searched for the format's distinctive tokens; parameter names of a layer
(``blocks.``) belong to ``redundancy/models/``, and ``redundancy/spec/`` owns
the spec field ``train.best_iteration`` of imported runs, which shares its name
with a store attribute.
"""

from __future__ import annotations

import ast
from pathlib import Path

import redundancy
from redundancy.store import layout

PACKAGE = Path(redundancy.__file__).parent
OWNERS = {"store": None, "models": "blocks."}
TOKENS = (
    f"{layout.CHECKPOINTS}/",
    f"{layout.METRICS}/",
    f"{layout.RESULTS}/",
    layout.A_STAGE_ID,
    layout.A_STAGE_KIND,
    layout.A_BEST_ITERATION,
    layout.A_SPEC_RESOLVED,
    layout.A_SPEC_TEXT,
    layout.A_FORMAT_VERSION,
    layout.A_RUN_STAGE_ID,
    layout.A_STUDY_KIND,
    layout.A_CHECKPOINT_ITERATIONS,
    layout.A_SPEC_HISTORY,
    layout.INDEX,
    "blocks.",
)


# Modules still to be routed through the store package. Each entry must still offend, so the
# list only ever shrinks; it is empty since the tolerant reader serves show, ls, the TUI and the report.
PENDING_READERS: set[str] = set()


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def offenders() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0]
        if part == "store":
            continue
        for line, text in _literals(ast.parse(path.read_text(encoding="utf-8"))):
            for token in TOKENS:
                if token in text and not (part == "models" and token == "blocks.") and not (part == "spec" and token == layout.A_BEST_ITERATION):
                    module = path.relative_to(PACKAGE.parent).as_posix()
                    found.setdefault(module, []).append(f"{module}:{line}: {token!r} in {text!r}")
    return found


def test_the_scanner_finds_a_token_in_a_literal_and_not_in_a_docstring() -> None:
    tree = ast.parse('"""about checkpoints/ here"""\nx = f"checkpoints/{it}"\n')
    assert [text for _, text in _literals(tree)] == ["checkpoints/"]


def test_no_module_outside_the_store_spells_the_format() -> None:
    found = offenders()
    unexpected = [line for module, lines in found.items() if module not in PENDING_READERS for line in lines]
    assert not unexpected, "\n".join(unexpected)
    routed = sorted(PENDING_READERS - set(found))
    assert not routed, f"no longer spells the format, remove from PENDING_READERS: {routed}"
