"""Summaries of a store as plain data: what ``show --json``, the TUI and the report read.

Everything here comes from stage attributes (JSON text) and never reads
checkpoint tensors, so summarizing a large store stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redundancy.store import StageInfo, Store

RUN_FIELDS = (
    "model", "width", "dataset", "data_source", "offline_subset", "seed", "iterations",
    "best_iteration", "test_accuracy", "test_accuracy_at_best", "best_val_loss", "device", "created",
)


# More value columns than this (and more columns than rows) and a summary table reads better
# transposed, a column per row: a dozen statistics for two or three layers read down, not across.
MAX_COLUMNS = 8

Row = tuple[str, dict[str, Any]]


def summary_rows(summary: Mapping[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """A study's summary (nested JSON) as table rows, whatever the medium that shows them.

    Every dict that holds scalars (anything but a dict, so short lists too) below the top
    level is a row: its key path joined with " / " labels it, and its scalars (in their
    order) are its cells; the dicts it holds give further rows after it. The top level's
    own scalars come back apart, for a caption or a name/value table."""
    rows: list[Row] = []

    def walk(tree: Mapping[str, Any], path: tuple[str, ...]) -> None:
        cells = {k: v for k, v in tree.items() if not isinstance(v, Mapping)}
        if path and cells:
            rows.append((" / ".join(path), cells))
        for key, value in tree.items():
            if isinstance(value, Mapping):
                walk(value, (*path, str(key)))

    walk(summary, ())
    scalars = {k: v for k, v in summary.items() if not isinstance(v, Mapping)}
    return rows, scalars


def summary_columns(rows: list[Row]) -> list[str]:
    """Every cell key of ``rows``, in the order first seen."""
    columns: list[str] = []
    for _, cells in rows:
        columns += [c for c in cells if c not in columns]
    return columns


def orient(rows: list[Row], columns: list[str] | None = None) -> tuple[bool, list[str], list[list[Any]]]:
    """``rows`` laid out as a grid: (transposed, header, lines). The header names the value
    columns and each line starts with its label; a missing cell is ``None``. The grid is
    transposed (a column per row) when there are more than :data:`MAX_COLUMNS` columns and
    more columns than rows."""
    columns = summary_columns(rows) if columns is None else columns
    if len(columns) > MAX_COLUMNS and len(columns) > len(rows):
        return True, [label for label, _ in rows], [[c, *(cells.get(c) for _, cells in rows)] for c in columns]
    return False, list(columns), [[label, *(cells.get(c) for c in columns)] for label, cells in rows]


def run_summary(info: StageInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"id": info.id, "name": info.attrs.get("run"), "status": "done"}
    for key in RUN_FIELDS:
        out[key] = info.attrs.get(key)
    out["grid_point"] = info.json_attr("grid_point", {})
    return out


def study_summary(info: StageInfo, *, curves: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": info.id,
        "kind": info.attrs.get("study_kind"),
        "name": info.attrs.get("study"),
        "run": info.attrs.get("run"),
        "run_id": info.attrs.get("run_stage_id"),
        "status": "done",
        "config": info.json_attr("config", {}),
        "summary": info.json_attr("summary", {}),
    }
    if curves:
        out["curves"] = info.json_attr("curves", {})
    return out


def store_document(store: Store, *, curves: bool = True) -> dict[str, Any]:
    """The ``show --json`` document: spec, runs and studies (with planned-but-missing ones)."""
    index = store.index_attrs()
    stages = store.stages()
    runs = [run_summary(s) for s in stages if s.kind == "train"]
    studies = [study_summary(s, curves=curves) for s in stages if s.kind == "study"]
    done = {s.id for s in stages}
    failures = {f["stage_id"]: f for f in json.loads(index.get("failures", "[]"))}
    for row in json.loads(index.get("plan", "[]")):
        if row["id"] in done:
            continue
        status = "failed" if row["id"] in failures else "pending"
        entry = {"id": row["id"], "name": row["name"], "status": status, "grid_point": row.get("point", {})}
        if row["id"] in failures:
            entry["error"] = failures[row["id"]]["error"]
        if row["kind"] == "train":
            runs.append(entry)
        else:
            studies.append({**entry, "kind": row["kind"], "run": row["run"], "summary": {}, "curves": {}})
    spec = json.loads(index["spec_resolved"]) if "spec_resolved" in index else {}
    return {"store": str(store.root), "spec": spec, "runs": runs, "studies": studies}


def find_stores(paths: list[Path]) -> list[Store]:
    """Stores named directly or found one level below the given folders."""
    out = []
    for path in paths:
        store = Store(path)
        if store.exists():
            out.append(store)
        elif path.is_dir():
            out.extend(Store(p) for p in sorted(path.iterdir()) if p.is_dir() and Store(p).exists())
    return out
