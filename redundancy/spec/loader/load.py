"""Reading a spec file or text: bounds, overrides, the schema and every check in one pass, then resolving."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from redundancy.errors import Problem, SpecError
from redundancy.registry import Lookups
from redundancy.spec.loader.checks import check_names, plugin_problems, registries
from redundancy.spec.loader.executor import section_problems
from redundancy.spec.loader.grid import MAX_GRID_POINTS, check_grid, grid_size
from redundancy.spec.loader.located import Loc, Located, Override, pydantic_problems, sorted_problems
from redundancy.spec.loader.overrides import apply_override, parse_override
from redundancy.spec.loader.reading import duplicate_keys, parse_yaml, read_text
from redundancy.spec.loader.resolve import ResolvedSpec, resolve_points
from redundancy.spec.loader.studies import read_studies
from redundancy.spec.schema import Spec


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> ResolvedSpec:
    """Read, check and resolve the spec at ``path`` with ``--set`` ``overrides`` applied, or raise :class:`SpecError`."""
    path = Path(path)
    return load_text(read_text(path), str(path), overrides)


def load_text(text: str, file: str = "<spec>", overrides: Sequence[str] = ()) -> ResolvedSpec:
    """:func:`load_spec` for a spec's text; ``file`` names it in problems."""
    with without_cycle_collection():
        return _load_text(text, file, overrides)


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a spec resolves.

    A 100,000-point grid allocates a million small, acyclic objects (configs, dicts, grid
    points); each full collection walks all of them, which made resolving such a grid
    several times slower. Reference counting still frees everything; collection resumes after.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _load_text(text: str, file: str, overrides: Sequence[str]) -> ResolvedSpec:
    data, where, parsed, problems = _read_bounded(text, file, overrides)

    # Past the bounds: the registries (and torch with them) may load now.
    from redundancy.studies import STUDIES

    if not file.startswith("<"):  # plugin modules beside the spec file come before sys.path
        from redundancy.plugins import look_beside

        look_beside(Path(file).parent, plugin_names(data))

    datasets, models = registries()
    spec: Spec | None = None
    try:
        spec = Spec.model_validate({k: v for k, v in data.items() if k != "studies"})
    except ValidationError as exc:
        problems += pydantic_problems(where, exc, Spec)
    studies, study_problems = read_studies(where, data, STUDIES)
    problems += study_problems
    problems += check_grid(where, data)
    problems += _name_problems(where, data, datasets, models)
    problems += plugin_problems(where, data, (datasets, models))
    if spec is not None and spec.executor:
        problems += section_problems(spec.executor, where)
    if problems or spec is None:
        raise SpecError(sorted_problems(problems))

    spec = spec.model_copy(update={"studies": [s for _, s in studies]})
    return resolve_points(spec, where, text, file, parsed, studies, STUDIES, datasets, models)


def _read_bounded(text: str, file: str, overrides: Sequence[str]) -> tuple[dict[str, Any], Located, list[Override], list[Problem]]:
    """The spec's data with the overrides applied, where its fields are, the overrides, and the problems found
    so far; a :class:`SpecError` for what stops reading (bounds, syntax, not a mapping, too many grid points)."""
    data, root = parse_yaml(text, file)
    problems: list[Problem] = []
    parsed: list[Override] = []
    for o in overrides:
        try:
            parsed.append(parse_override(o))
        except SpecError as exc:
            problems += exc.problems
    where = Located(file, root, parsed)
    problems += duplicate_keys(where, root)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError([where.problem((), f"a spec must be a mapping of fields; found {type(data).__name__}")])
    for o in parsed:
        bad = apply_override(data, o)
        if bad is not None:
            problems.append(bad)
    size = grid_size(data)
    if size > MAX_GRID_POINTS:
        loc: Loc = ("grid",) if isinstance(data.get("grid"), dict) else ("seeds",)
        raise SpecError(sorted_problems(problems + [where.problem(loc, f"the grid has {size:,} points; at most {MAX_GRID_POINTS:,} runs per spec (split it into several specs)")]))
    return data, where, parsed, problems


def _name_problems(where: Located, data: dict[str, Any], datasets: Lookups[Any], models: Lookups[Any]) -> list[Problem]:
    """Dataset and model names that are not known, in their sections and in the grid's name axes."""
    problems = check_names(where, data, "data", "name", datasets)
    problems += check_names(where, data, "model", "name", models)
    raw_grid = data.get("grid") if isinstance(data.get("grid"), dict) else {}
    for axis, registry in (("data.name", datasets), ("model.name", models)):
        values = raw_grid.get(axis)
        for i, value in enumerate(values if isinstance(values, list) else []):
            why = registry.problem(value) if isinstance(value, str) else None
            if why is not None:
                problems.append(where.problem(("grid", axis, i), why))
    return problems


def plugin_names(data: dict[str, Any]) -> list[Any]:
    """Every model, dataset and study kind name a spec's raw data writes (grid values included)."""
    names: list[Any] = []
    for section in ("data", "model"):
        if isinstance(data.get(section), dict):
            names.append(data[section].get("name"))
    grid = data.get("grid")
    if isinstance(grid, dict):
        for axis in ("data.name", "model.name"):
            if isinstance(grid.get(axis), list):
                names += grid[axis]
    studies = data.get("studies")
    if isinstance(studies, list):
        names += [s.get("kind") for s in studies if isinstance(s, dict)]
    return names
