"""From a validated spec to a plan of stages with stable identities.

A stage's identity is the hash of its canonical resolved config: defaults are
filled in (model-dependent training defaults included), then every field equal
to its schema default is dropped before hashing, so adding a new optional field
with a default never changes an existing hash. Execution-only options
(``train.graph``, ``train.stack``, ``train.eval_batch_size``,
``train.resume_every``) and study labels
(``name``) are not part of the identity.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from redundancy.spec.loader import expand_grid
from redundancy.spec.schema import RunConfig, Spec, StudyConfig

EXECUTION_ONLY_TRAIN = {"graph", "stack", "eval_batch_size", "resume_every"}


def canonical_run(run: RunConfig) -> dict[str, Any]:
    """The run's identity payload: non-default resolved fields only."""
    return run.model_dump(mode="json", exclude_defaults=True, exclude={"train": EXECUTION_ONLY_TRAIN})


def canonical_study(study: StudyConfig) -> dict[str, Any]:
    """A study's identity payload: non-default fields; nested sections by the fields the spec set.

    A nested section (a lottery study's ``train`` override, say) replaces only the
    fields it names, so naming a field with its schema default still changes what
    runs and must change the identity.
    """
    payload = study.model_dump(mode="json", exclude_defaults=True, exclude={"name"})
    for field in type(study).model_fields:
        value = getattr(study, field)
        if isinstance(value, BaseModel):
            payload[field] = value.model_dump(mode="json", exclude_unset=True)
    payload["kind"] = study.kind
    return payload


def digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _label_value(value: Any) -> str:
    return str(value).replace("/", "-").replace(" ", "")


def run_label(point: dict[str, Any]) -> str:
    """A readable, unique-per-grid-point name: ``run`` or e.g. ``width0.5_seed1``."""
    if not point:
        return "run"
    return "_".join(f"{path.split('.')[-1]}{_label_value(v)}" for path, v in point.items())


@dataclass(frozen=True)
class TrainStage:
    id: str
    label: str
    point: dict[str, Any]
    config: RunConfig

    @property
    def identity(self) -> dict[str, Any]:
        """What the id hashes: :func:`canonical_run` of the config."""
        return canonical_run(self.config)


@dataclass(frozen=True)
class StudyStage:
    id: str
    name: str
    run: TrainStage
    config: StudyConfig

    @property
    def identity(self) -> dict[str, Any]:
        """The study's own identity payload, :func:`canonical_study` (the id also hashes the run's id)."""
        return canonical_study(self.config)


@dataclass
class Plan:
    spec: Spec
    spec_text: str
    runs: list[TrainStage] = field(default_factory=list)
    studies: list[StudyStage] = field(default_factory=list)

    @property
    def stages(self) -> list[TrainStage | StudyStage]:
        return [*self.runs, *self.studies]


def study_names(studies: list[StudyConfig]) -> list[str]:
    """Each study's label: its ``name``, else its kind (numbered when a kind repeats)."""
    counts: dict[str, int] = {}
    for s in studies:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for s in studies:
        if s.name:
            names.append(s.name)
            continue
        seen[s.kind] = seen.get(s.kind, 0) + 1
        names.append(s.kind if counts[s.kind] == 1 else f"{s.kind}{seen[s.kind]}")
    return names


def make_plan(spec: Spec, spec_text: str = "") -> Plan:
    plan = Plan(spec, spec_text)
    names = study_names(list(spec.studies))
    for point, run in expand_grid(spec):
        stage = TrainStage(f"train-{digest(canonical_run(run))}", run_label(point), point, run)
        plan.runs.append(stage)
        for name, study in zip(names, spec.studies):
            sid = f"{study.kind}-{digest({'run': stage.id, 'study': canonical_study(study)})}"
            plan.studies.append(StudyStage(sid, name, stage, study))
    return plan
