"""Stage ids and identity payloads of a spec file, as plain JSON data (shared by the freezer and the test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redundancy.engine.plan import canonical_run, canonical_study, make_plan
from redundancy.spec.loader import load_spec


def stage_identities(path: Path) -> list[dict[str, Any]]:
    """One row per stage of the spec's plan: its id, its label and the payload its id hashes."""
    plan = make_plan(load_spec(path))
    rows: list[dict[str, Any]] = []
    for run in plan.runs:
        rows.append({"id": run.id, "label": run.label, "identity": canonical_run(run.config)})
    for study in plan.studies:
        rows.append(
            {
                "id": study.id,
                "label": f"{study.run.label}/{study.name}",
                "identity": {"run": study.run.id, "study": canonical_study(study.config)},
            }
        )
    return rows
