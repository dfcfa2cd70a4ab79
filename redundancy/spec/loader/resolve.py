"""Resolving a validated spec: one checked, resolved run per distinct grid point.

Runs equal but for their seed share one validated, resolved and checked config; layer
shapes are computed once per distinct model and data. A problem found at many grid points
is reported once, at the grid value that caused it, naming the first point and how many more.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redundancy.errors import Problem, RedundancyError, SpecError
from redundancy.spec.loader.checks import import_checks, registries, retrain_note, run_checks, run_notes
from redundancy.spec.loader.derive import derive
from redundancy.spec.loader.grid import grid_axes, point_problem, product, run_label, set_path
from redundancy.spec.loader.located import Loc, Located, Override, sorted_problems
from redundancy.spec.loader.overrides import raw_value
from redundancy.spec.loader.studies import study_checks
from redundancy.spec.schema import EXECUTION_ONLY_TRAIN, ResolvedRun, RunConfig, Spec, SpecInfo, StudyConfig, checkpoint_iterations, resolve_train


@dataclass(frozen=True)
class GridPoint:
    """One run of a spec: its grid values (``{}`` without a grid), resolved config and layers."""

    values: dict[str, Any]
    run: ResolvedRun
    layers: dict[str, Any]  # name -> redundancy.models.LayerInfo
    checkpoints: list[int]
    shared: str = ""  # the run's config but its seed (JSON): points that differ only by seed share it


@dataclass(frozen=True)
class ResolvedSpec:
    """Everything the engine needs from a spec, read and checked once.

    ``spec`` is the validated spec (studies as their kinds' configs), ``text`` what was read
    (with a comment line per ``--set`` override), ``points`` the distinct runs in grid order,
    ``warnings`` what was merged or is worth knowing (not errors).
    """

    spec: Spec
    text: str
    file: str
    points: list[GridPoint]
    overrides: tuple[str, ...] = ()
    warnings: list[Problem] = field(default_factory=list)
    where: Located | None = field(default=None, repr=False, compare=False)

    def problem(self, point: GridPoint, locs: Sequence[Loc], message: str) -> Problem:
        """A problem of ``point``'s run about the fields ``locs`` (the first one a grid value decides, else ``locs[0]``)."""
        where = self.where or Located(self.file, None)
        return point_problem(where, self.spec, point.values, locs, message)


def resolve(spec: Spec, text: str = "", file: str = "<spec>") -> ResolvedSpec:
    """Resolve an already validated :class:`Spec` (built in code, not read from a file)."""
    from redundancy.studies import STUDIES

    datasets, models = registries()
    return resolve_points(spec, Located(file, None), text, file, [], list(enumerate(spec.studies)), STUDIES, datasets, models)


def resolve_points(
    spec: Spec,
    where: Located,
    text: str,
    file: str,
    overrides: list[Override],
    studies: list[tuple[int, StudyConfig]],
    kinds: Any,
    datasets: Any,
    models: Any,
) -> ResolvedSpec:
    """The spec's distinct runs, each resolved and checked, or a :class:`SpecError` with every problem."""
    resolver = _Resolver(spec, where, file, studies, kinds, datasets, models)
    resolver.expand()
    resolver.raise_problems()
    override_text = "".join(f"\n# --set {o.text}" for o in overrides)
    return ResolvedSpec(spec, text + override_text if overrides else text, file, resolver.points, tuple(o.text for o in overrides), resolver.warnings(), where)


#: A problem as found: file, line, column, path, message (one problem may be found at many grid points).
_Key = tuple[str, int | None, int | None, str, str]
#: Problems of a run: the fields each is about and its message.
_Found = list[tuple[list[Loc], str]]


class _Resolver:
    """Expands a validated spec's grid into resolved, checked runs; one instance per resolve."""

    def __init__(self, spec: Spec, where: Located, file: str, studies: list[tuple[int, StudyConfig]], kinds: Any, datasets: Any, models: Any):
        self.spec, self.where, self.studies, self.kinds = spec, where, studies, kinds
        self.datasets, self.models = datasets, models
        self.spec_dir = Path(file).parent
        base = {"seed": spec.seed, "data": spec.data.model_dump(), "model": spec.model.model_dump(), "train": spec.train.model_dump()}
        self.base_blob = pickle.dumps(base)
        self.problems: dict[_Key, list[str]] = {}  # problem -> labels of the points it was found at
        self.located: dict[_Key, Problem] = {}
        self.derived: dict[str, _Found] = {}  # shared -> problems found deriving plugin and file identities
        self.layer_cache: dict[str, dict[str, Any] | Exception] = {}
        self.templates: dict[str, tuple[ResolvedRun, str]] = {}  # grid values but the seed -> (run, its config but the seed)
        self.checked: dict[str, tuple[_Found, Any, list[int]]] = {}  # shared -> (problems, layers, checkpoints)
        self.points: list[GridPoint] = []
        self.notes_found: dict[_Key, Problem] = {}  # warnings about what a run does that may not be what was meant
        self.raw_validation = raw_value(where, ("train", "validation"))
        self.seen: dict[tuple[str, int], int] = {}  # identity -> number of the first point with it
        self.merged: dict[int, list[int]] = {}
        self.firsts: dict[int, dict[str, Any]] = {}

    def report(self, point: dict[str, Any], locs: Sequence[Loc], message: str) -> None:
        p = point_problem(self.where, self.spec, point, locs, message)
        key = (p.file, p.line, p.column, p.path, p.message)
        self.located.setdefault(key, p)
        self.problems.setdefault(key, []).append(run_label(point))

    def expand(self) -> None:
        grid = grid_axes(self.spec)
        keys = list(grid)
        for number, combo in enumerate(product([grid[k] for k in keys]), start=1):
            self.add(number, dict(zip(keys, combo)))
        for i, study in self.studies:  # a study that pairs each run with the next seed needs a seed grid
            if getattr(study, "paired_run", False) and self.points and len({gp.shared for gp in self.points}) == len(self.points):
                self.report(self.points[0].values, [("studies", i, "partner"), ("studies", i)], f"{study.kind} with partner: seed pairs each run with the next seed of the same config; list two or more seeds in `seeds`")

    def add(self, number: int, point: dict[str, Any]) -> None:
        """Grid point ``number`` (counted from 1): merged into an earlier equal run, or checked and kept."""
        template, shared = self.template(point)
        seed = point.get("seed", template.seed)
        if type(seed) is not int:  # e.g. 1.0 from YAML: the int the schema makes of it
            seed = RunConfig.model_validate({"seed": seed}).seed
        run = template if seed == template.seed else template.model_copy(update={"seed": seed})
        identity = (shared, seed)
        if identity in self.seen:
            self.merged.setdefault(self.seen[identity], [self.seen[identity]]).append(number)
            return
        self.seen[identity] = number
        self.firsts[number] = point
        if shared not in self.checked:
            self.checked[shared] = self.check(run, shared)
            if not self.checked[shared][0]:
                for locs, message in run_notes(run, self.datasets, self.raw_validation):
                    note = point_problem(self.where, self.spec, point, locs, message)
                    self.notes_found.setdefault((note.file, note.line, note.column, note.path, note.message), note)
        found, layers, checkpoints = self.checked[shared]
        for locs, message in found:
            self.report(point, locs, message)
        if not found:
            self.points.append(GridPoint(point, run, layers, checkpoints, shared))

    def template(self, point: dict[str, Any]) -> tuple[ResolvedRun, str]:
        """The resolved run of ``point``'s values but the seed, and its config but the seed (JSON)."""
        # Runs equal but for their seed share one validated, resolved and checked config.
        rest = {k: v for k, v in point.items() if k != "seed"}
        values_key = json.dumps(rest, sort_keys=True, default=repr)
        if values_key not in self.templates:
            values = pickle.loads(self.base_blob)  # a deep copy, in C: a 100,000-point grid makes as many
            for path, value in rest.items():
                set_path(values, path, value)
            pre = derive(values, self.spec_dir, self.datasets, self.models)
            run0 = RunConfig.model_validate(values)
            train = resolve_train(run0.train, run0.model, self.train_defaults(run0.model.name))
            template = ResolvedRun(seed=run0.seed, data=run0.data, model=run0.model, train=train)
            self.templates[values_key] = (template, template.model_dump_json(exclude={"seed": True, "train": EXECUTION_ONLY_TRAIN}))
            self.derived[self.templates[values_key][1]] = pre
        return self.templates[values_key]

    def train_defaults(self, name: str) -> Any:
        """The model's registry entry's training defaults (a plugin's included); None for a name that is not a model."""
        return self.models[name].train_defaults if self.models.problem(name) is None else None

    def check(self, run: ResolvedRun, shared: str) -> tuple[_Found, Any, list[int]]:
        """A run's problems, layers and checkpoints: derived files, registries, the model's layers, imports, studies."""
        found = list(self.derived.get(shared, []))
        if not found:
            found = run_checks(run, self.datasets, self.models)
        layers: Any = None
        checkpoints: list[int] = []
        if found:
            return found, layers, checkpoints
        shape, classes = self.datasets[run.data.name].shape(run.data)
        layers = self.layers(run, shape, classes)
        if isinstance(layers, BaseException):
            reason = str(layers).strip().splitlines()[0] if str(layers).strip() else type(layers).__name__  # torch appends C++ frames
            found.append(([("model",)], f"model {run.model.name!r} cannot be built for dataset {run.data.name!r}: {reason}"))
        elif run.train.from_checkpoints:
            found += import_checks(run, self.studies, shape, classes)
        if not found:
            checkpoints = checkpoint_iterations(run.train)
            info = SpecInfo(run, layers, checkpoints)
            for i, study in self.studies:
                for sub, message in study_checks(study, info, self.kinds):
                    found.append(([("studies", i) + tuple(sub)], message))
        return found, layers, checkpoints

    def layers(self, run: ResolvedRun, shape: Any, classes: int) -> Any:
        """The model's layers for this data (once per distinct model and data), or the exception building it raised."""
        from redundancy.models import describe_layers

        model_key = run.model.model_dump_json() + json.dumps([shape, classes])
        if model_key not in self.layer_cache:
            try:
                self.layer_cache[model_key] = describe_layers(run.model, shape, classes)
            except (Exception, SystemExit) as exc:  # a model that cannot take this data (or a plugin that exits)
                self.layer_cache[model_key] = exc if isinstance(exc, Exception) else RedundancyError(f"it called sys.exit({exc.code!r})")
        return self.layer_cache[model_key]

    def raise_problems(self) -> None:
        """Every problem found, each once, where it is and (when not everywhere) at which grid points."""
        if not self.problems:
            return
        out = []
        for key, labels in self.problems.items():
            p = self.located[key]
            if len(labels) < len(self.seen) and not (p.path.startswith("grid") or p.path.startswith("seeds")):  # where, when not everywhere
                more = f" and {len(labels) - 1} more" if len(labels) > 1 else ""
                p = Problem(p.file, p.line, p.column, p.path, f"{p.message} (at grid point {labels[0]}{more})")
            out.append(p)
        raise SpecError(sorted_problems(out))

    def warnings(self) -> list[Problem]:
        """Merged grid points, notes on what runs do, and what imported runs are evaluated on and retrain with."""
        from redundancy.data.contract import unseen_warning

        warnings = []
        for numbers in self.merged.values():  # numbers in the grid's expansion order, as --dry-run lists them
            loc = ("grid",) if self.spec.grid else ("seeds",)
            label = run_label(self.firsts[numbers[0]])
            warnings.append(self.where.problem(loc, f"grid points {', '.join(map(str, numbers))} ({label}) are the same run; it is trained once"))
        warnings += self.notes_found.values()
        given = set(self.spec.train.model_fields_set)
        notes: dict[str, GridPoint] = {}
        for gp in self.points:
            if gp.run.train.from_checkpoints:
                notes.setdefault(gp.shared, gp)
        for gp in notes.values():
            unseen = unseen_warning(gp.run)
            if unseen is not None:
                warnings.append(self.where.problem(("train", "from_checkpoints"), unseen))
            note = retrain_note(gp.run, self.studies, given)
            if note is not None:
                warnings.append(self.where.problem(("train", "from_checkpoints"), note))
        return warnings
