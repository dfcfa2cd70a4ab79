"""Summaries of a store as plain data: what ``show --json``, the TUI and the report read.

Everything here comes from stage attributes (JSON text) and never reads
checkpoint tensors, so summarizing a large store stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from redundancy.store import StageInfo, Store

RUN_FIELDS = (
    "model", "width", "dataset", "data_source", "offline_subset", "seed", "iterations",
    "best_iteration", "test_accuracy", "test_accuracy_at_best", "best_val_loss", "device", "created",
)


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
