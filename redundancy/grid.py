"""Grid summary: each study's headline numbers against the grid's axes, mean ± std over seeds.

A grid spec (``grid:`` / ``seeds:``) makes one run per point. The questions it
answers are about trends along the axes (does the distance from init shrink
with width?), so this module lines up every stage's ``summary`` by grid point:
the seed axis is averaged over, every other axis is a row. It reads only the
store's typed ``show --json`` document (JSON attributes, no tensors), so it is as fast as
``show`` and usable by the TUI and the report as plain data; the tables they
show are built from it once, by :func:`redundancy.present.tables.grid_table_data`.

Headline numbers are picked from each study's ``summary`` generically: nested
dicts are flattened to ``a/b/c`` paths and a path is a headline when it
contains one of the tokens the kind's registry entry names
(:func:`redundancy.studies.headline_tokens`; the registry imports no study's
code). A kind with no matching key shows all of its numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from redundancy.present.tables import SEED_AXIS, TableData, grid_table_title
from redundancy.present.tables import grid_cell as format_cell  # noqa: F401  (the cell text of every grid table)
from redundancy.store import layout as L
from redundancy.store.document import Document, as_document
from redundancy.studies import headline_tokens


#: Attributes of a train stage summarized like a study's headline numbers.
TRAIN_METRICS = (L.A_TEST_ACCURACY, L.A_TEST_ACCURACY_AT_BEST, L.A_BEST_ITERATION)


def grid_axes(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """The axes of a resolved spec, in the order the plan expands them (``seeds:`` becomes ``seed``)."""
    axes = {str(k): list(v) for k, v in (spec.get("grid") or {}).items()}
    if spec.get("seeds") and SEED_AXIS not in axes:
        axes[SEED_AXIS] = list(spec["seeds"])
    return axes


def flatten_numbers(summary: Any, prefix: str = "") -> dict[str, float | None]:
    """Numeric leaves of a nested summary as ``a/b/c`` paths; None stays None (a value that was not reached).

    Booleans, strings and lists are left out: they are labels or curves, not numbers to average.
    """
    out: dict[str, float | None] = {}
    if isinstance(summary, dict):
        for key, value in summary.items():
            out.update(flatten_numbers(value, f"{prefix}/{key}" if prefix else str(key)))
    elif summary is None:
        if prefix:
            out[prefix] = None
    elif isinstance(summary, (int, float)) and not isinstance(summary, bool):
        out[prefix] = float(summary)
    return out


def headline_numbers(kind: str, summary: dict[str, Any]) -> dict[str, float | None]:
    """The headline subset of ``summary``'s numbers for a study of ``kind``."""
    flat = flatten_numbers(summary)
    tokens = headline_tokens(kind)
    picked = {k: v for k, v in flat.items() if any(t in k.lower() for t in tokens)}
    return picked or flat


def aggregate(values: list[float | None]) -> dict[str, Any]:
    """Mean and sample standard deviation (n − 1) over the finite values; ``missing`` counts the rest.

    ``std`` is None with fewer than two values: one seed says nothing about spread.
    """
    finite = [v for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    mean = sum(finite) / n if n else None
    std = None
    if n >= 2 and mean is not None:
        std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
    return {"mean": mean, "std": std, "n": n, "missing": len(values) - n, "values": values}


def _key(point: dict[str, Any], axes: list[str]) -> str:
    return json.dumps([point.get(a) for a in axes])


def _groups(axes: dict[str, list[Any]], group_axes: list[str]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{}]
    for axis in group_axes:
        groups = [{**g, axis: v} for g in groups for v in axes[axis]]
    return groups


def grid_summary(doc: Document | Mapping[str, Any]) -> dict[str, Any]:
    """Line up a store's headline numbers by grid point (``doc`` is the store's
    :class:`~redundancy.store.document.Document`, or its ``show --json`` shape).

    Returns plain JSON-able data::

        {"axes": {axis: [values]}, "seed_axis": "seed" or None, "group_axes": [axes other than seed],
         "groups": [{axis: value}], "tables": [
            {"study": name, "kind": kind, "metrics": [path, ...],
             "rows": [{"point": {axis: value}, "done": n, "failed": n, "pending": n,
                       "cells": {path: {"mean", "std", "n", "missing", "values"}}}]}]}

    The first table is ``train`` (final test accuracy and friends), then one per
    study name in plan order. ``done`` / ``failed`` / ``pending`` count stages of
    that study at that point, so a half-finished grid says how much each mean rests on.
    """
    doc = as_document(doc)
    axes = grid_axes(doc.spec)
    seed_axis = SEED_AXIS if SEED_AXIS in axes else None
    group_axes = [a for a in axes if a != seed_axis]
    groups = _groups(axes, group_axes)
    run_points = doc.run_points()

    # (study name) -> kind, metric order, and (group key) -> status counts and metric values
    tables: dict[str, dict[str, Any]] = {}

    def table(name: str, kind: str) -> dict[str, Any]:
        if name not in tables:
            tables[name] = {"study": name, "kind": kind, "metrics": [], "rows": {}}
        return tables[name]

    def row(t: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
        key = _key(point, group_axes)
        if key not in t["rows"]:
            t["rows"][key] = {"done": 0, "failed": 0, "pending": 0, "values": {}}
        r: dict[str, Any] = t["rows"][key]
        return r

    def add(t: dict[str, Any], point: dict[str, Any], status: str, numbers: dict[str, float | None]) -> None:
        r = row(t, point)
        r[status if status in ("done", "failed") else "pending"] += 1
        for metric, value in numbers.items():
            if metric not in t["metrics"]:
                t["metrics"].append(metric)
            r["values"].setdefault(metric, []).append(value)

    train = table("train", "train")
    for run in doc.runs:
        numbers: dict[str, float | None] = {}
        if run.done:
            for m in TRAIN_METRICS:
                v = run.value(m)
                numbers[m] = None if v is None else float(v)
        add(train, run.grid_point, run.status, numbers)

    for st in doc.studies:
        point = st.grid_point or run_points.get(st.run, {})
        numbers = headline_numbers(st.kind, st.summary) if st.done else {}
        add(table(st.name, st.kind), point, st.status, numbers)

    out_tables = []
    for t in tables.values():
        rows = []
        for g in groups:
            r = t["rows"].get(_key(g, group_axes))
            if r is None:
                continue
            cells = {m: aggregate(r["values"][m]) for m in t["metrics"] if m in r["values"]}
            rows.append({"point": g, "done": r["done"], "failed": r["failed"], "pending": r["pending"], "cells": cells})
        out_tables.append({"study": t["study"], "kind": t["kind"], "metrics": list(t["metrics"]), "rows": rows})
    return {"axes": axes, "seed_axis": seed_axis, "group_axes": group_axes, "groups": groups, "tables": out_tables}


def grid_runs_table(doc: Document | Mapping[str, Any], table: Mapping[str, Any], *, transposed: bool = False) -> TableData | None:
    """The runs behind one grid table (a table of :func:`redundancy.grid.grid_summary`): a row per run
    with its own headline numbers (a column per run when ``transposed``, as its grid table), so a
    mean ± std never hides the runs it averages."""
    doc = as_document(doc)
    metrics = list(table["metrics"])
    rows: list[list[Any]] = []
    if table["kind"] == "train":
        rows = [[r.name, *(r.value(m) for m in metrics)] for r in doc.runs if r.done]
    else:
        for st in doc.studies:
            if st.name == table["study"] and st.kind == table["kind"] and st.done:
                numbers = headline_numbers(st.kind, st.summary)
                rows.append([st.run, *(numbers.get(m) for m in metrics)])
    if len(rows) < 2:
        return None
    title = f"runs of {grid_table_title(table, '', prefix='grid: ')}"
    if transposed:
        return TableData(title, ["", *(str(r[0]) for r in rows)], [[m, *(r[i + 1] for r in rows)] for i, m in enumerate(metrics)], transposed=True)
    return TableData(title, ["run", *metrics], rows)
