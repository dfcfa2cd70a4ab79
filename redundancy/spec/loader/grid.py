"""The grid: its axes checked one value at a time, its size bounded, its points named and located.

A problem caused by a grid value is reported at that value (:func:`point_problem`); each
axis value is validated with the one section it sets, so a grid of 100,000 values validates
100,000 sections, not 100,000 whole runs.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from redundancy.errors import Problem
from redundancy.registry import did_you_mean
from redundancy.spec.loader.located import Loc, Located, model_in, short, unique
from redundancy.spec.schema import RunConfig, Spec


#: Most grid points (runs) a spec may declare.
MAX_GRID_POINTS = 100_000


#: Sections of a run a grid axis may vary.
GRID_ROOTS = {"seed", "data", "model", "train"}


def _label_value(value: Any) -> str:
    return str(value).replace("/", "-").replace(" ", "")


def run_label(point: dict[str, Any]) -> str:
    """A readable, unique-per-grid-point name: ``run`` or e.g. ``width0.5_seed1``."""
    if not point:
        return "run"
    return "_".join(f"{path.split('.')[-1]}{_label_value(v)}" for path, v in point.items())


def grid_axes(spec: Spec) -> dict[str, list[Any]]:
    grid = dict(spec.grid or {})
    if spec.seeds:
        grid.setdefault("seed", list(spec.seeds))
    return grid


def _axis_loc(spec: Spec, axis: str, value: Any) -> Loc:
    """Where ``value`` of ``axis`` is written: in ``grid:`` or in ``seeds:``."""
    loc: Loc = ("grid", axis) if spec.grid and axis in spec.grid else ("seeds",)
    values = spec.grid[axis] if loc[0] == "grid" and spec.grid else list(spec.seeds or [])
    for i, v in enumerate(values):
        if v == value and type(v) is type(value):
            return loc + (i,)
    return loc


def point_problem(where: Located, spec: Spec, point: dict[str, Any], locs: Sequence[Loc], message: str) -> Problem:
    for loc in locs:
        for axis, value in point.items():
            parts = tuple(axis.split("."))
            n = min(len(parts), len(loc))
            if parts[:n] == tuple(loc)[:n]:  # the axis sets this field, or a section holding it, or a field inside it
                return where.problem(_axis_loc(spec, axis, value), f"{message} (grid value {short(value)} of {axis!r})")
    return where.problem(locs[0], message)


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise KeyError(path)
    node[parts[-1]] = value


def _field_path_problem(path: str) -> str | None:
    """Why ``path`` (``model.width``) is not a field of a run, or None when it is."""
    parts = path.split(".")
    model: type[BaseModel] | None = RunConfig
    for i, part in enumerate(parts):
        if model is None:
            return f"{'.'.join(parts[:i])!r} has no fields; found {path!r}"
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:i]) or "a run"
            options = [f for f in fields]
            return f"{where} has no field {part!r}{did_you_mean(part, options)} (expected one of: {', '.join(options)})"
        model = model_in(fields[part].annotation)
    return None


def check_grid(where: Located, data: dict[str, Any]) -> list[Problem]:
    """Problems of the ``grid:`` section: one per bad axis, one per bad value (at the value)."""
    grid = data.get("grid")
    problems: list[Problem] = []
    if not isinstance(grid, dict):
        return problems
    base = {k: v for k, v in data.items() if k in GRID_ROOTS and k != "seed"}
    base_blob = pickle.dumps(base)
    for path, values in grid.items():
        loc: Loc = ("grid", path)
        root = str(path).split(".")[0]
        if root not in GRID_ROOTS:
            problems.append(where.problem(loc, f"grid axis must start with one of {', '.join(sorted(GRID_ROOTS))}{did_you_mean(root, GRID_ROOTS)}; found {path!r}", at_key=True))
            continue
        why = _field_path_problem(str(path))
        if why is not None:
            problems.append(where.problem(loc, f"grid axis is not a field: {why}", at_key=True))
            continue
        if not isinstance(values, list) or not values:
            problems.append(where.problem(loc, f"expected a non-empty list of values; found {short(values)}"))
            continue
        parts = tuple(str(path).split("."))
        # Only the section the axis sets is validated with each value: a grid of 100,000 values
        # validates 100,000 sections, not 100,000 whole runs.
        section: type[BaseModel] = model_in(RunConfig.model_fields[root].annotation) or RunConfig
        for i, value in enumerate(values):
            trial: dict[str, Any] = pickle.loads(base_blob)  # a deep copy
            if root != "seed" and not isinstance(trial.setdefault(root, {}), dict):
                break  # the section itself is wrong; reported by the schema
            try:
                set_path(trial, str(path), value)
            except KeyError:
                break
            try:
                if root == "seed":
                    RunConfig.model_validate({"seed": trial["seed"]})
                else:
                    section.model_validate(trial[root])
            except ValidationError as exc:
                for e in exc.errors():
                    e_loc = e["loc"] if root == "seed" else (root, *e["loc"])
                    eloc = tuple(p for p in e_loc if not (isinstance(p, str) and ("[" in p or p in {"str", "int", "float", "bool"} or p.startswith("function-"))))
                    if eloc[: len(parts)] != parts:
                        continue  # a problem of the file's own section, reported there
                    text = e["msg"].replace("Value error, ", "")
                    if e["type"] == "extra_forbidden":
                        text = f"unknown field {e['loc'][-1]!r}"
                    text = f"{text[0].lower()}{text[1:]}"
                    suffix = "" if "found " in text else f"; found {short(value)}"
                    problems.append(where.problem(loc + (i,), f"{text}{suffix} for {path!r}"))
    return unique(problems)


def grid_size(data: dict[str, Any]) -> int:
    size = 1
    grid = data.get("grid")
    axes = dict(grid) if isinstance(grid, dict) else {}
    seeds = data.get("seeds")
    if isinstance(seeds, list) and seeds and "seed" not in axes:
        axes["seed"] = seeds
    for values in axes.values():
        if isinstance(values, list) and values:
            size *= len(values)
    return size


def product(axes: list[list[Any]]) -> Iterable[tuple[Any, ...]]:
    """Every combination of one value per axis, in grid order; one empty combination without axes."""
    return itertools.product(*axes) if axes else [()]
