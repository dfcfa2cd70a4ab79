"""Read a spec file into a validated :class:`Spec`, or report every problem with its line.

YAML is read with the safe loader only. Each problem names the file, line and
column, the field path (``studies[0].layer``), what was expected and what was
found, with a "did you mean" for misspelled keys.
"""

from __future__ import annotations

import difflib
import itertools
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from redundancy.errors import Problem, SpecError
from redundancy.spec.schema import RunConfig, Spec, StudyConfig, checkpoint_iterations, resolve_train

Loc = tuple[str | int, ...]


def format_path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Located:
    """Finds the line and column of a field path in a composed YAML tree."""

    def __init__(self, file: str, root: yaml.Node | None):
        self.file = file
        self.root = root

    def _node(self, loc: Loc) -> tuple[yaml.Node | None, yaml.Node | None]:
        """(value node, key node) at ``loc``; the deepest existing node if the path stops early."""
        node, key_node = self.root, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        node, key_node = v, k
                        break
                else:
                    return node, key_node
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node, key_node = node.value[part], None
            else:
                return node, key_node
        return node, key_node

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> Problem:
        node, key_node = self._node(loc)
        target = key_node if (at_key and key_node is not None) else node
        line = col = None
        if target is not None:
            line, col = target.start_mark.line + 1, target.start_mark.column + 1
        return Problem(self.file, line, col, format_path(loc), message)


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _expected_fields(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``X``, ``X | None`` or ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that owns the last key of ``loc``."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = _model_in(field.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def pydantic_problems(
    where: _Located, error: ValidationError, model: type[BaseModel], prefix: Loc = ()
) -> list[Problem]:
    problems = []
    for e in error.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # Union members show up as extra loc parts (e.g. 'list[int]', 'str'); drop them.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "int", "float", "bool"})))
        full = prefix + loc
        kind = e["type"]
        if kind == "extra_forbidden":
            owner = _model_at(model, loc)
            options = list(owner.model_fields) if owner else []
            key = str(loc[-1])
            msg = f"unknown field {key!r}{_did_you_mean(key, options)}"
            if options:
                msg += f" (expected one of: {', '.join(options)})"
            problems.append(where.problem(full, msg, at_key=True))
        elif kind == "missing":
            at = where.problem(full[:-1], f"required field {loc[-1]!r} is missing")
            problems.append(Problem(at.file, at.line, at.column, format_path(full), at.message))
        else:
            found = e.get("input")
            text = e["msg"].replace("Value error, ", "")
            problems.append(where.problem(full, f"{text[0].lower()}{text[1:]}; found {found!r}"))
    return problems


def _duplicate_keys(where: _Located, node: yaml.Node | None, loc: Loc = ()) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = getattr(k, "value", None)
            if key in seen:
                line, col = k.start_mark.line + 1, k.start_mark.column + 1
                problems.append(Problem(where.file, line, col, format_path(loc + (str(key),)), f"key {key!r} appears twice"))
            seen.add(key)
            problems += _duplicate_keys(where, v, loc + (str(key),))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            problems += _duplicate_keys(where, v, loc + (i,))
    return problems


def read_yaml(path: Path) -> tuple[Any, _Located]:
    """Parse ``path`` with the safe loader; syntax errors become a :class:`SpecError`."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(file, None, None, "", "no such spec file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(file, None, None, "", f"cannot read spec: {exc}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([Problem(file, line, col, "", f"invalid YAML: {reason}")]) from None
    where = _Located(file, root)
    dups = _duplicate_keys(where, root)
    if dups:
        raise SpecError(dups)
    return data, where


@dataclass(frozen=True)
class SpecInfo:
    """What semantic checks of a study need: the resolved run and its layers."""

    run: RunConfig
    layers: dict[str, Any]  # name -> redundancy.models.LayerInfo
    checkpoints: list[int]


def _grid_points(grid: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    if not grid:
        return [{}]
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise KeyError(path)
    node[parts[-1]] = value


GRID_ROOTS = {"seed", "data", "model", "train"}


def expand_grid(spec: Spec) -> list[tuple[dict[str, Any], RunConfig]]:
    """The runs of a spec: one resolved :class:`RunConfig` per grid point, with the point's values."""
    grid = dict(spec.grid or {})
    if spec.seeds:
        grid.setdefault("seed", list(spec.seeds))
    base = {"seed": spec.seed, "data": spec.data.model_dump(), "model": spec.model.model_dump(), "train": spec.train.model_dump()}
    out = []
    for point in _grid_points(grid):
        values = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        values = {k: (v.copy() if isinstance(v, dict) else v) for k, v in values.items()}
        for path, value in point.items():
            _set_path(values, path, value)
        run = RunConfig.model_validate(values)
        run = run.model_copy(update={"train": resolve_train(run.train, run.model)})
        out.append((point, run))
    return out


def _check_grid(where: _Located, data: dict[str, Any]) -> list[Problem]:
    grid = data.get("grid")
    problems: list[Problem] = []
    if not isinstance(grid, dict):
        return problems
    for path, values in grid.items():
        loc: Loc = ("grid", path)
        root = str(path).split(".")[0]
        if root not in GRID_ROOTS:
            problems.append(where.problem(loc, f"grid axis must start with one of {', '.join(sorted(GRID_ROOTS))}{_did_you_mean(root, GRID_ROOTS)}; found {path!r}", at_key=True))
            continue
        if not isinstance(values, list) or not values:
            problems.append(where.problem(loc, f"expected a non-empty list of values; found {values!r}"))
            continue
        section = {"seed": None, "data": "data", "model": "model", "train": "train"}[root]
        for i, value in enumerate(values):
            trial = {k: (v.copy() if isinstance(v, dict) else v) for k, v in data.items() if k in GRID_ROOTS}
            try:
                _set_path(trial, str(path), value)
            except KeyError:
                problems.append(where.problem(loc, f"{path!r} is not a field path"))
                break
            try:
                RunConfig.model_validate(trial)
            except ValidationError as exc:
                for e in exc.errors():
                    text = e["msg"]
                    if e["type"] == "extra_forbidden":
                        text = f"unknown field {e['loc'][-1]!r}"
                    problems.append(where.problem(loc + (i,), f"{text}; found {value!r} for {path!r}"))
                break
        del section
    return problems


def load_spec(path: str | Path) -> Spec:
    """Validate the spec at ``path`` completely (syntax, schema, studies, layers) or raise SpecError."""
    from redundancy.data import DATASETS
    from redundancy.models import MODELS, describe_layers
    from redundancy.studies import STUDIES

    path = Path(path)
    data, where = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError([where.problem((), f"a spec must be a mapping of fields; found {type(data).__name__}")])

    problems: list[Problem] = []
    top = {k: v for k, v in data.items() if k != "studies"}
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(top)
    except ValidationError as exc:
        problems += pydantic_problems(where, exc, Spec)

    studies: list[StudyConfig] = []
    raw_studies = data.get("studies", [])
    if raw_studies is None:
        raw_studies = []
    if not isinstance(raw_studies, list):
        problems.append(where.problem(("studies",), f"expected a list of studies; found {raw_studies!r}"))
        raw_studies = []
    for i, item in enumerate(raw_studies):
        loc: Loc = ("studies", i)
        if not isinstance(item, dict):
            problems.append(where.problem(loc, f"expected a mapping with a 'kind'; found {item!r}"))
            continue
        kind = item.get("kind")
        if kind is None:
            problems.append(where.problem(loc, f"required field 'kind' is missing (expected one of: {', '.join(STUDIES)})"))
            continue
        if kind not in STUDIES:
            problems.append(
                where.problem(loc + ("kind",), f"unknown study kind {kind!r}{_did_you_mean(str(kind), STUDIES)} (expected one of: {', '.join(STUDIES)})")
            )
            continue
        config_cls = STUDIES[kind].config
        try:
            studies.append(config_cls.model_validate(item))
        except ValidationError as exc:
            problems += pydantic_problems(where, exc, config_cls, loc)

    names = [s.name for s in studies if s.name]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(where.problem(("studies",), f"two studies are named {dup!r}; names must be unique"))

    problems += _check_grid(where, data)

    if spec is not None:
        if spec.data.name not in DATASETS:
            problems.append(where.problem(("data", "name"), f"unknown dataset {spec.data.name!r}{_did_you_mean(spec.data.name, DATASETS)} (expected one of: {', '.join(DATASETS)})"))
        if spec.model.name not in MODELS:
            problems.append(where.problem(("model", "name"), f"unknown model {spec.model.name!r}{_did_you_mean(spec.model.name, MODELS)} (expected one of: {', '.join(MODELS)})"))
        if spec.model.widths is not None and spec.model.name != "mlp":
            problems.append(where.problem(("model", "widths"), f"'widths' applies to model 'mlp' only; found model {spec.model.name!r}"))

    if problems:
        raise SpecError(problems)
    assert spec is not None
    spec = spec.model_copy(update={"studies": studies})

    # Semantic checks need the resolved runs and their layers (built on the meta device).
    from redundancy.data.shapes import data_shape

    for point, run in expand_grid(spec):
        try:
            shape, classes = data_shape(run.data)
            layers = describe_layers(run.model, shape, classes)
        except Exception as exc:  # a model that cannot take this data
            problems.append(where.problem(("model",), f"model {run.model.name!r} cannot be built for dataset {run.data.name!r}: {exc}"))
            break
        info = SpecInfo(run, layers, checkpoint_iterations(run.train))
        for i, study in enumerate(studies):
            check = STUDIES[study.kind].check
            if check is None:
                continue
            for sub, message in check(study, info):
                loc = ("studies", i) + tuple(sub)
                problems.append(where.problem(loc, message))
        if problems:
            break
        del point
    if problems:
        raise SpecError(problems)
    return spec
