"""From a resolved spec to a plan of stages with stable identities.

The plan takes :func:`redundancy.spec.loader.load_spec`'s :class:`ResolvedSpec` as it is:
the grid is expanded, the configs resolved and checked there, once; this module only
names and hashes.

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
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from redundancy.spec.loader import ResolvedSpec, run_label, study_labels
from redundancy.spec.schema import EXECUTION_ONLY_TRAIN, SPLIT_PATHS, ResolvedRun, RunConfig, Spec, StudyConfig

__all__ = ["EXECUTION_ONLY_TRAIN", "Plan", "StudyStage", "TrainStage", "canonical_run", "canonical_study", "digest", "make_plan", "next_seed", "pairs_runs", "run_label"]


def canonical_run(run: RunConfig) -> dict[str, Any]:
    """The run's identity payload: non-default resolved fields only."""
    exclude: dict[str, Any] = {"train": EXECUTION_ONLY_TRAIN}
    if run.data.split is not None:
        exclude["data"] = {"split": SPLIT_PATHS}
    return run.model_dump(mode="json", exclude_defaults=True, exclude=exclude)


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


@dataclass(frozen=True)
class TrainStage:
    id: str
    label: str
    point: dict[str, Any]
    config: ResolvedRun

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
    #: A second training stage the study reads (a study that pairs runs); its id is hashed with the run's.
    partner: TrainStage | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """The study's own identity payload, :func:`canonical_study` (the id also hashes the run's id)."""
        return canonical_study(self.config)

    @property
    def runs(self) -> tuple[TrainStage, ...]:
        """The training stages the study reads: its run, then its partner when it has one."""
        return (self.run,) if self.partner is None else (self.run, self.partner)


def pairs_runs(study: StudyConfig) -> bool:
    """Whether a study reads two runs: its config says so with a true ``paired_run`` property."""
    return bool(getattr(study, "paired_run", False))


def next_seed(points: list[Any]) -> dict[int, int]:
    """Point index -> the index of its partner: the next point (in grid order) of the same config but another seed.

    A seed grid's runs pair in the order ``seeds`` lists them: (s0, s1), (s1, s2), ...; the last
    seed of each config has no partner, and a study that pairs runs has no stage there.
    """
    later: dict[str, int] = {}
    out: dict[int, int] = {}
    for i in range(len(points) - 1, -1, -1):
        shared = getattr(points[i], "shared", "")
        if shared in later:
            out[i] = later[shared]
        later[shared] = i
    return out


@dataclass
class Plan:
    spec: Spec
    spec_text: str
    runs: list[TrainStage] = field(default_factory=list)
    studies: list[StudyStage] = field(default_factory=list)

    @property
    def stages(self) -> list[TrainStage | StudyStage]:
        return [*self.runs, *self.studies]


def _run_identities(resolved: ResolvedSpec) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Each point with :func:`canonical_run` of its run, dumped once per run config but the seed
    (points that differ only by seed share it; the seed is a field like any other, left out at its default)."""
    shared: dict[str, dict[str, Any]] = {}
    default_seed = RunConfig.model_fields["seed"].default
    for point in resolved.points:
        if point.shared and point.shared in shared:
            identity = dict(shared[point.shared])
            if point.run.seed != default_seed:
                identity["seed"] = point.run.seed
        else:
            identity = canonical_run(point.run)
            if point.shared:
                shared[point.shared] = {k: v for k, v in identity.items() if k != "seed"}
        yield point, identity


def study_names(studies: list[StudyConfig]) -> list[str]:
    """Each study's label: its ``name``, else its kind (numbered when a kind repeats); the loader
    refuses a name that is another study's label."""
    return study_labels(studies)


def make_plan(resolved: ResolvedSpec) -> Plan:
    """The stages of a resolved spec: one train stage per grid point, one study stage per (point, study).

    A study that pairs runs (:func:`pairs_runs`) has a stage only at points with a partner
    (:func:`next_seed`), and its id hashes both training stages' ids; every other id is as before.
    """
    from redundancy.spec.loader import without_cycle_collection

    with without_cycle_collection():
        return _make_plan(resolved)


def _make_plan(resolved: ResolvedSpec) -> Plan:
    spec = resolved.spec
    plan = Plan(spec, resolved.text)
    names = study_names(list(spec.studies))
    payloads = [canonical_study(study) for study in spec.studies]  # the same at every grid point
    # Each payload as the JSON digest() writes it: a study's id hashes {"run": <run id>, "study": <payload>}
    # (keys sorted), built below without re-encoding the payload at each of a grid's points.
    texts = [json.dumps(payload, sort_keys=True, separators=(",", ":")) for payload in payloads]
    stages = [TrainStage(f"train-{digest(identity)}", run_label(p.values), p.values, p.run) for p, identity in _run_identities(resolved)]
    partners = next_seed(resolved.points) if any(pairs_runs(s) for s in spec.studies) else {}
    for i, stage in enumerate(stages):
        plan.runs.append(stage)
        run_json = json.dumps(stage.id)
        for name, study, payload, text in zip(names, spec.studies, payloads, texts):
            if pairs_runs(study):
                if i not in partners:
                    continue
                partner = stages[partners[i]]
                sid = f"{study.kind}-{digest({'run': stage.id, 'partner': partner.id, 'study': payload})}"
                plan.studies.append(StudyStage(sid, name, stage, study, partner))
                continue
            body = '{"run":' + run_json + ',"study":' + text + "}"
            sid = f"{study.kind}-{hashlib.sha256(body.encode()).hexdigest()[:16]}"
            plan.studies.append(StudyStage(sid, name, stage, study))
    return plan
