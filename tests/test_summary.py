"""summary_rows and orient: the one place a study summary becomes table rows."""

from __future__ import annotations

import itertools
import subprocess
import sys
from typing import Any

import pytest

from redundancy.present.tables import MAX_COLUMNS, orient, summary_columns, summary_rows


def brute_rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every dict below the top level with at least one non-dict value, in depth-first order,
    found by enumerating key paths explicitly (no recursion shared with the code under test)."""
    found: list[tuple[str, dict[str, Any]]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((k,), v) for k, v in reversed(list(summary.items()))]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        cells = {k: v for k, v in node.items() if not isinstance(v, dict)}
        if cells:
            found.append((" / ".join(path), cells))
        stack.extend(((*path, k), v) for k, v in reversed(list(node.items())))
    return found


def nest(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    out = leaf
    for level in reversed(range(depth)):
        out = {f"k{level}": out}
    return out


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("with_scalars", [False, True])
def test_summary_rows_matches_brute_force_at_every_depth(depth: int, with_scalars: bool) -> None:
    values: list[Any] = [0, 1.5, "x", True, None, [1, 2]]
    for a, b in itertools.product(values, repeat=2):
        leaf = {"a": a, "b": b}
        summary: dict[str, Any] = {"top": nest(depth - 1, dict(leaf)), "other": nest(depth - 1, {"b": b, "c": 3})}
        if with_scalars:
            summary = {"n": 7, **summary, "tail": [1, 2, 3]}
        rows, scalars = summary_rows(summary)
        assert rows == brute_rows(summary)
        assert scalars == ({"n": 7, "tail": [1, 2, 3]} if with_scalars else {})
        prefix = " / ".join(["top", *(f"k{i}" for i in range(depth - 1))])
        assert rows[0] == (prefix, leaf)


def test_summary_rows_on_hand_written_summaries() -> None:
    assert summary_rows({}) == ([], {})
    assert summary_rows({"a": 1, "b": "two"}) == ([], {"a": 1, "b": "two"})
    assert summary_rows({"fc1": {"p": 1}, "fc2": {"p": 2, "q": 3}, "units": 300}) == (
        [("fc1", {"p": 1}), ("fc2", {"p": 2, "q": 3})],
        {"units": 300},
    )
    # a dict holding scalars and dicts: its scalars are a row, then its dicts' rows follow
    mixed = {"fc1": {"rank": 3, "best": {"acc": 0.9, "deep": {"x": 1}}, "final": {"acc": 0.8}}, "empty": {}}
    assert summary_rows(mixed) == (
        [("fc1", {"rank": 3}), ("fc1 / best", {"acc": 0.9}), ("fc1 / best / deep", {"x": 1}), ("fc1 / final", {"acc": 0.8})],
        {},
    )
    assert summary_columns(summary_rows(mixed)[0]) == ["rank", "acc", "x"]


def test_summary_rows_equals_brute_force_on_every_small_tree() -> None:
    """All trees of depth up to 3 over two keys, each node a scalar, an empty dict or a dict."""

    def trees(depth: int) -> list[Any]:
        if depth == 0:
            return [1]
        smaller = trees(depth - 1)
        out: list[Any] = [1, {}]
        out += [{"a": x} for x in smaller] + [{"a": x, "b": y} for x in smaller for y in smaller]
        return out

    for tree in trees(3):
        if isinstance(tree, dict):
            assert summary_rows(tree)[0] == brute_rows(tree)


def test_orient_transposes_only_wide_grids_with_fewer_rows_than_columns() -> None:
    narrow = [("fc1", {"p": 1, "q": 2}), ("fc2", {"p": 3})]
    assert orient(narrow) == (False, ["p", "q"], [["fc1", 1, 2], ["fc2", 3, None]])
    for n_rows, n_cols in itertools.product(range(1, 12), range(1, 12)):
        rows = [(f"r{i}", {f"c{j}": i * 100 + j for j in range(n_cols)}) for i in range(n_rows)]
        transposed, header, lines = orient(rows)
        assert transposed == (n_cols > MAX_COLUMNS and n_cols > n_rows)
        grid = {(r, c): v for r, cells in rows for c, v in cells.items()}
        if transposed:
            assert header == [r for r, _ in rows]
            assert {(r, line[0]): v for line in lines for r, v in zip(header, line[1:])} == grid
        else:
            assert header == [f"c{j}" for j in range(n_cols)]
            assert {(line[0], c): v for line in lines for c, v in zip(header, line[1:])} == grid
    # explicit columns keep their order
    assert orient(narrow, ["q", "p"])[1:] == (["q", "p"], [["fc1", 2, 1], ["fc2", None, 3]])


def test_summary_module_needs_no_rendering_library() -> None:
    code = "import sys, redundancy.present.tables; print(sorted({'textual', 'matplotlib', 'rich'} & {m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_rows_of_two_shapes_make_two_tables_and_a_width_picks_the_orientation() -> None:
    from redundancy.present.tables import summary_tables

    # a unit-ticket summary: per-arm rows, then per-keep-fraction comparisons with other keys
    summary = {
        "arms": {"random:reinit": {"accuracy": 0.9, "accuracy_std": 0.01}, "magnitude_final:original": {"accuracy": 0.95, "accuracy_std": None}},
        "keep 0.5": {"best": "magnitude_final:original", "margin": 0.05, "p_value": 0.01},
        "keep 0.25": {"best": "random:reinit", "margin": 0.0, "p_value": 0.9},
        "dense_accuracy": 0.97,
    }
    arms, keeps = summary_tables(summary, "unit_ticket", fold_prefix=True)
    assert arms.columns == ["", "accuracy", "accuracy_std"] and arms.title == "unit_ticket — arms"
    assert arms.rows == [["random:reinit", 0.9, 0.01], ["magnitude_final:original", 0.95, None]]
    assert arms.caption == "dense_accuracy: 0.97" and keeps.caption == ""
    assert keeps.columns == ["", "best", "margin", "p_value"] and keeps.title == "unit_ticket — keep" and [r[0] for r in keeps.rows] == ["0.5", "0.25"]
    (narrow,) = summary_tables({"fc1": {f"metric_{i}": i for i in range(4)}, "fc2": {f"metric_{i}": i for i in range(4)}}, width=30)
    assert narrow.transposed and narrow.columns == ["", "fc1", "fc2"]
    (wide,) = summary_tables({"fc1": {f"metric_{i}": i for i in range(4)}, "fc2": {f"metric_{i}": i for i in range(4)}}, width=200)
    assert not wide.transposed and wide.columns[0] == ""
