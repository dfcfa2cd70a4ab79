"""Grid summary: each study's headline numbers against the grid's axes, mean ± std over seeds.

A grid spec (``grid:`` / ``seeds:``) makes one run per point. The questions it
answers are about trends along the axes (does the distance from init shrink
with width?), so this module lines up every stage's ``summary`` by grid point:
the seed axis is averaged over, every other axis is a row. It reads only the
store's typed ``show --json`` document (JSON attributes, no tensors), so it is as fast as
``show``. The result is typed (:class:`GridSummary` of :class:`GridTable` of
:class:`GridRow` of :class:`Cell`) and every reader (``show``, the TUI, the
report) reads its fields; ``to_json`` renders the ``grid`` of ``show --json``.
The tables they show are built from it once, by
:func:`redundancy.present.tables.grid_table_data`.

Headline numbers are picked from each study's ``summary`` generically: nested
dicts are flattened to ``a/b/c`` paths and a path is a headline when it
contains one of the tokens the kind's registry entry names
(:func:`redundancy.studies.headline_tokens`; the registry imports no study's
code). A kind with no matching key shows all of its numbers.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redundancy.present.tables import SEED_AXIS, TableData, grid_cell, grid_table_title
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


@dataclass
class Cell:
    """One headline number at one grid point: the mean and sample standard deviation (n − 1) over the
    finite values; ``missing`` counts the rest (None: not reached, NaN). ``values`` keeps them all, in
    the order the stages were read. ``std`` is None with fewer than two values: one seed says nothing
    about spread."""

    mean: float | None
    std: float | None
    n: int
    missing: int
    values: list[float | None]

    @classmethod
    def of(cls, values: list[float | None]) -> Cell:
        """The cell of ``values`` (kept as given, the list itself)."""
        finite = [v for v in values if v is not None and math.isfinite(v)]
        n = len(finite)
        mean = sum(finite) / n if n else None
        std = None
        if n >= 2 and mean is not None:
            std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1))
        return cls(mean, std, n, len(values) - n, values)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cell:
        return cls(data.get("mean"), data.get("std"), int(data.get("n", 0)), int(data.get("missing", 0)), list(data.get("values") or []))

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "missing": self.missing, "values": list(self.values)}


@dataclass
class GridRow:
    """One grid point (its group axes, the seed averaged over) of one table: how many stages of the
    study there are done, failed and pending, and a cell per headline number that has values."""

    point: dict[str, Any]
    done: int
    failed: int
    pending: int
    cells: dict[str, Cell]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GridRow:
        cells = {str(m): Cell.from_json(c) for m, c in (data.get("cells") or {}).items()}
        return cls(dict(data.get("point") or {}), int(data.get("done", 0)), int(data.get("failed", 0)), int(data.get("pending", 0)), cells)

    def to_json(self) -> dict[str, Any]:
        return {"point": self.point, "done": self.done, "failed": self.failed, "pending": self.pending,
                "cells": {m: c.to_json() for m, c in self.cells.items()}}


@dataclass
class GridTable:
    """One study's headline numbers (``metrics``, in the order first met) by grid point; the training
    runs are the table of study and kind ``train``."""

    study: str
    kind: str
    metrics: list[str]
    rows: list[GridRow]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GridTable:
        return cls(str(data.get("study", "")), str(data.get("kind", "")), [str(m) for m in data.get("metrics") or []],
                   [GridRow.from_json(r) for r in data.get("rows") or []])

    def to_json(self) -> dict[str, Any]:
        return {"study": self.study, "kind": self.kind, "metrics": list(self.metrics), "rows": [r.to_json() for r in self.rows]}


@dataclass
class GridSummary:
    """A store's headline numbers by grid point: the spec's ``axes``, the one averaged over
    (``seed_axis``, None without seeds), the others (``group_axes``) whose combinations are the
    ``groups``, and a table per study (``train`` first, then the studies in plan order)."""

    axes: dict[str, list[Any]]
    seed_axis: str | None
    group_axes: list[str]
    groups: list[dict[str, Any]]
    tables: list[GridTable]

    @property
    def seeds(self) -> list[Any] | None:
        """The seed axis's values, None without one."""
        return self.axes.get(self.seed_axis) if self.seed_axis else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GridSummary:
        seed_axis = data.get("seed_axis")
        return cls({str(k): list(v) for k, v in (data.get("axes") or {}).items()}, None if seed_axis is None else str(seed_axis),
                   [str(a) for a in data.get("group_axes") or []], [dict(g) for g in data.get("groups") or []],
                   [GridTable.from_json(t) for t in data.get("tables") or []])

    def to_json(self) -> dict[str, Any]:
        """The ``grid`` of ``show --json``: plain data, keys in this order."""
        return {"axes": self.axes, "seed_axis": self.seed_axis, "group_axes": list(self.group_axes), "groups": self.groups,
                "tables": [t.to_json() for t in self.tables]}


def aggregate(values: list[float | None]) -> dict[str, Any]:
    """A :class:`Cell` of ``values`` in its JSON shape."""
    return Cell.of(values).to_json()


def format_cell(cell: Cell | Mapping[str, Any] | None) -> str:
    """The cell text of every grid table (:func:`redundancy.present.tables.grid_cell`), of a cell or its JSON shape."""
    if isinstance(cell, Mapping):
        return grid_cell(Cell.from_json(cell) if cell else None)
    return grid_cell(cell)


def _key(point: dict[str, Any], axes: list[str]) -> str:
    return json.dumps([point.get(a) for a in axes])


def _groups(axes: dict[str, list[Any]], group_axes: list[str]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{}]
    for axis in group_axes:
        groups = [{**g, axis: v} for g in groups for v in axes[axis]]
    return groups


@dataclass
class _Tally:
    """One table being read: its metrics in the order first met, and by group key the stage counts
    (done, failed, pending) and every value of each metric."""

    study: str
    kind: str
    metrics: list[str] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    values: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)

    def add(self, key: str, status: str, numbers: dict[str, float | None]) -> None:
        self.counts.setdefault(key, Counter())[status if status in ("done", "failed") else "pending"] += 1
        values = self.values.setdefault(key, {})
        for metric, value in numbers.items():
            if metric not in self.metrics:
                self.metrics.append(metric)
            values.setdefault(metric, []).append(value)

    def table(self, groups: list[dict[str, Any]], group_axes: list[str]) -> GridTable:
        rows = []
        for g in groups:
            key = _key(g, group_axes)
            if key in self.counts:
                counts, values = self.counts[key], self.values[key]
                cells = {m: Cell.of(values[m]) for m in self.metrics if m in values}
                rows.append(GridRow(g, counts["done"], counts["failed"], counts["pending"], cells))
        return GridTable(self.study, self.kind, list(self.metrics), rows)


def summarize_grid(doc: Document | Mapping[str, Any]) -> GridSummary:
    """Line up a store's headline numbers by grid point (``doc`` is the store's
    :class:`~redundancy.store.document.Document`, or its ``show --json`` shape).

    The first table is ``train`` (final test accuracy and friends), then one per
    study name in plan order. A row's ``done`` / ``failed`` / ``pending`` count stages of
    that study at that point, so a half-finished grid says how much each mean rests on.
    """
    doc = as_document(doc)
    axes = grid_axes(doc.spec)
    seed_axis = SEED_AXIS if SEED_AXIS in axes else None
    group_axes = [a for a in axes if a != seed_axis]
    tallies = {"train": _Tally("train", "train")}
    for run in doc.runs:
        numbers: dict[str, float | None] = {}
        if run.done:
            for m in TRAIN_METRICS:
                v = run.value(m)
                numbers[m] = None if v is None else float(v)
        tallies["train"].add(_key(run.grid_point, group_axes), run.status, numbers)
    run_points = doc.run_points()
    for st in doc.studies:
        point = st.grid_point or run_points.get(st.run, {})
        if st.name not in tallies:
            tallies[st.name] = _Tally(st.name, st.kind)
        tallies[st.name].add(_key(point, group_axes), st.status, headline_numbers(st.kind, st.summary) if st.done else {})
    groups = _groups(axes, group_axes)
    return GridSummary(axes, seed_axis, group_axes, groups, [t.table(groups, group_axes) for t in tallies.values()])


def grid_summary(doc: Document | Mapping[str, Any]) -> dict[str, Any]:
    """:func:`summarize_grid` in its JSON shape (the ``grid`` of ``show --json``)::

        {"axes": {axis: [values]}, "seed_axis": "seed" or None, "group_axes": [axes other than seed],
         "groups": [{axis: value}], "tables": [
            {"study": name, "kind": kind, "metrics": [path, ...],
             "rows": [{"point": {axis: value}, "done": n, "failed": n, "pending": n,
                       "cells": {path: {"mean", "std", "n", "missing", "values"}}}]}]}
    """
    return summarize_grid(doc).to_json()


def grid_runs_table(doc: Document | Mapping[str, Any], table: GridTable, *, transposed: bool = False) -> TableData | None:
    """The runs behind one grid table (a table of :func:`summarize_grid`): a row per run
    with its own headline numbers (a column per run when ``transposed``, as its grid table), so a
    mean ± std never hides the runs it averages."""
    doc = as_document(doc)
    metrics = list(table.metrics)
    rows: list[list[Any]] = []
    if table.kind == "train":
        rows = [[r.name, *(r.value(m) for m in metrics)] for r in doc.runs if r.done]
    else:
        for st in doc.studies:
            if st.name == table.study and st.kind == table.kind and st.done:
                numbers = headline_numbers(st.kind, st.summary)
                rows.append([st.run, *(numbers.get(m) for m in metrics)])
    if len(rows) < 2:
        return None
    title = f"runs of {grid_table_title(table, '', prefix='grid: ')}"
    if transposed:
        return TableData(title, ["", *(str(r[0]) for r in rows)], [[m, *(r[i + 1] for r in rows)] for i, m in enumerate(metrics)], transposed=True)
    return TableData(title, ["run", *metrics], rows)
