"""The store's index for a plan, and the plan's stages as ``--dry-run`` lists them.

``index.h5`` names the spec, the plan's stages and the failures so far, with
links from each run and study label to its stage file; the driver rebuilds it
while a run goes on (:mod:`redundancy.engine.driver`). Every stage file is
complete on its own, so the index can always be rebuilt from the plan.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from redundancy.engine.plan import Plan, TrainStage
from redundancy.engine.stages import StageFailure, provenance
from redundancy.store import Store, to_json
from redundancy.store import layout as L


def index_links(plan: Plan) -> dict[str, str]:
    links = {L.run_link(r.label): r.id for r in plan.runs}
    links.update({L.study_link(s.run.label, s.name): s.id for s in plan.studies})
    return links


def plan_table(plan: Plan) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in plan.runs:
        rows.append({"id": r.id, "kind": "train", "run": r.label, "name": r.label, "point": r.point})
    for s in plan.studies:
        rows.append({"id": s.id, "kind": s.config.kind, "run": s.run.label, "name": s.name, "point": s.run.point})
    return rows


def write_index(store: Store, plan: Plan, failures: list[StageFailure], device: torch.device) -> None:
    attrs = {
        L.A_SPEC_NAME: plan.spec.name,
        L.A_SPEC_TEXT: plan.spec_text,
        L.A_SPEC_RESOLVED: to_json(plan.spec.model_dump(mode="json")),
        L.A_PLAN: to_json(plan_table(plan)),
        L.A_FAILURES: to_json([f.__dict__ for f in failures]),
        **provenance(device),
    }
    store.write_index(attrs, index_links(plan))


def describe_plan(plan: Plan, store: Store) -> list[tuple[str, str, str, str]]:
    """(stage id, kind, label, status) rows for ``--dry-run`` (which only reads: a broken stage file stays where it is)."""
    rows = []
    # One listing per folder instead of a stat per stage: a 100,000-point grid has 300,000 stages.
    present, stale = _listing(store.stage_dir), _listing(store.stage_dir / L.STALE)
    for stage in plan.stages:
        name = L.stage_file(stage.id)
        problem = "missing" if present is not None and name not in present else store.stage_problem(stage.id)
        status = "cached" if problem is None else "to run" if problem == "missing" else f"to run (its file {problem})"
        if problem is not None and (stale is None or name in stale) and store.stale_reusable(stage.id):
            status = f"cached in {L.STAGES}/{L.STALE}/ (moved back when run)"
        if isinstance(stage, TrainStage):
            rows.append((stage.id, "train", stage.label, status))
        else:
            rows.append((stage.id, stage.config.kind, f"{stage.run.label}/{stage.name}", status))
    return rows


def _listing(folder: Path) -> set[str] | None:
    """Names in ``folder`` (none when it does not exist); None when it cannot be listed (each stage then says why)."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()
    except OSError:
        return None


def default_store_root(spec_name: str, store: str | Path | None) -> Path:
    """``--store PATH`` if given, else ``store/<spec name>``."""
    return Path(store) if store is not None else Path("store") / spec_name
