"""Read a spec file once into everything the engine needs, or report every problem with its line.

:func:`load_spec` is the one place a spec is read, checked and resolved. It returns a
:class:`ResolvedSpec`: the validated :class:`Spec`, its text, and one :class:`GridPoint`
per distinct run with the run's fully resolved config (:class:`ResolvedRun`, no ``None``
left) and its layer shapes. :func:`redundancy.engine.make_plan` only hashes what it gets.

Every problem is found in one pass and reported sorted by position: YAML syntax,
schema (unknown fields with a "did you mean", wrong types, out-of-range values,
non-finite numbers, seeds outside 0..2**63-1, unsafe names), then what needs the
registries (unknown dataset or model, a validation split larger than the training
pool, layers and checkpoints the studies name). Each problem names the file, line
and column, or the ``--set`` override it came from; a problem caused by a grid value
is reported at that value.

Reading is bounded before anything heavy is imported (torch loads only after the
bounds hold): files over :data:`MAX_SPEC_BYTES` are refused unread, nesting deeper
than :data:`MAX_DEPTH` and aliases expanding to more than :data:`MAX_NODES` values
are refused while composing, and grids over :data:`MAX_GRID_POINTS` points before
they are expanded. Layer shapes are computed once per distinct model and data, and
study checks once per distinct run (seeds aside), so a 10,000-point grid resolves in
seconds.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import json
import pickle
import typing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from redundancy.errors import Problem, RedundancyError, SpecError
from redundancy.spec.schema import (
    EXECUTION_ONLY_TRAIN,
    ResolvedRun,
    RunConfig,
    Spec,
    StudyConfig,
    checkpoint_iterations,
    resolve_train,
)

Loc = tuple[str | int, ...]

#: Largest spec file read (bytes); larger files are refused before parsing.
MAX_SPEC_BYTES = 1 << 20
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 50
#: Most values a document may hold once its aliases are expanded (a "billion laughs" stops here).
MAX_NODES = 200_000
#: Most grid points (runs) a spec may declare.
MAX_GRID_POINTS = 100_000
#: Sections of a run a grid axis may vary.
GRID_ROOTS = {"seed", "data", "model", "train"}


def format_path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class Override:
    """One ``--set PATH=VALUE``: the path's parts (``grid.model.width`` is ``("grid", "model.width")``)."""

    text: str
    path: Loc
    value: Any

    @property
    def where(self) -> str:
        return f"--set {self.text}"


class _Located:
    """Finds the line and column of a field path in a composed YAML tree (or the override that set it)."""

    def __init__(self, file: str, root: yaml.Node | None, overrides: Sequence[Override] = ()):
        self.file = file
        self.root = root
        self.overrides = list(overrides)

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

    def override_at(self, loc: Loc) -> Override | None:
        """The last override that set ``loc`` or a section holding it, or that made ``loc`` (``--set trian.lr=1``
        makes a section ``trian`` the file does not have)."""
        for o in reversed(self.overrides):
            if tuple(loc[: len(o.path)]) == o.path:
                return o
        for o in reversed(self.overrides):
            if loc and o.path[: len(loc)] == tuple(loc) and not self._in_file(loc):
                return o
        return None

    def _in_file(self, loc: Loc) -> bool:
        node = self.root
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                return False
            if node is None:
                return False
        return True

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> Problem:
        override = self.override_at(loc)
        if override is not None:
            return Problem(override.where, None, None, format_path(loc), message)
        node, key_node = self._node(loc)
        target = key_node if (at_key and key_node is not None) else node
        line = col = None
        if target is not None:
            line, col = target.start_mark.line + 1, target.start_mark.column + 1
        return Problem(self.file, line, col, format_path(loc), message)


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


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
        field_info = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field_info is None:
            return None
        model = _model_in(field_info.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


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
            options = [f for f, info in owner.model_fields.items() if not (isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("loader"))] if owner else []
            key = str(loc[-1])
            msg = f"unknown field {key!r}{_did_you_mean(key, options)}"
            if options:
                msg += f" (expected one of: {', '.join(options)})"
            problems.append(where.problem(full, msg, at_key=True))
        elif kind == "missing":
            at = where.problem(full[:-1], f"required field {loc[-1]!r} is missing")
            problems.append(Problem(at.file, at.line, at.column, format_path(full), at.message))
        else:
            text = e["msg"].replace("Value error, ", "")
            message = f"{text[0].lower()}{text[1:]}"
            if "found " not in message:
                message += f"; found {_short(e.get('input'))}"
            problems.append(where.problem(full, message))
    return _unique(problems)


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# --- bounded YAML ---------------------------------------------------------------------------


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing deep nesting and alias expansions past the bounds while composing."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}

    def _size(self, node: yaml.Node) -> int:
        """Values ``node`` stands for once expanded (memoized: shared nodes are counted once per use)."""
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.SequenceNode):
                self._sizes[key] = 1 + sum(self._size(v) for v in node.value)
            elif isinstance(node, yaml.MappingNode):
                self._sizes[key] = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            else:
                self._sizes[key] = 1
        return self._sizes[key]

    def _count(self, n: int, mark: yaml.Mark) -> None:
        self._values += n
        if self._values > MAX_NODES:
            raise _Bound(mark, f"the spec expands to more than {MAX_NODES:,} values (aliases nested too deep?)")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            self._count(self._size(node), event.start_mark)
            return node
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Bound(event.start_mark, f"the spec nests deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(1, event.start_mark)
        return node


class _Bound(Exception):
    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.mark = mark
        self.message = message


def _control_character(text: str, file: str) -> None:
    """Refuse a character YAML does not allow in a document (a control character), naming its line and column."""
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad is None:
        return
    at = bad.start()
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    char = bad.group()
    hint = f"; inside double quotes write it as the escape \\x{ord(char):02x}" if ord(char) < 0x100 else ""
    raise SpecError([Problem(file, line, column, "", f"control character U+{ord(char):04X} is not allowed in a spec{hint}")])


def _fast_tree(text: str) -> tuple[bool, yaml.Node | None, yaml.SafeLoader | None]:
    """The composed tree by libyaml when the document has no aliases and is within the bounds.

    libyaml parses a 1 MiB grid in a fraction of a second where the pure-Python parser
    takes seconds. Its composer cannot be bounded while it composes, so the events are
    checked first (depth and number of values; libyaml's parser keeps an explicit stack,
    so a deep document cannot overflow it); a document with aliases takes the bounded
    Python loader, which counts what each alias expands to, and so does a document libyaml
    cannot parse. Returns ``(False, None, None)`` when the fast path does not apply.
    """
    if not getattr(yaml, "__with_libyaml__", False):
        return False, None, None
    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:  # the Python loader reports it, with the messages and bounds it always gave
        return False, None, None
    depth = values = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            return False, None, None
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            values += 1
            if depth > MAX_DEPTH:
                raise _Bound(event.start_mark, f"the spec nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent):
            values += 1
        if values > MAX_NODES:
            raise _Bound(event.start_mark, f"the spec expands to more than {MAX_NODES:,} values")
    loader = yaml.CSafeLoader(text)
    return True, loader.get_single_node(), loader


def parse_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """``(data, composed tree)`` of ``text`` under the bounds; syntax errors become a :class:`SpecError`."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError([Problem(file, None, None, "", f"the spec is larger than {MAX_SPEC_BYTES // 1024} KiB; a spec file holds settings, not data")])
    _control_character(text, file)
    loader: Any = None
    try:
        fast, root, loader = _fast_tree(text)
        if not fast:
            loader = _BoundedLoader(text)
            root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except _Bound as exc:
        raise SpecError([Problem(file, exc.mark.line + 1, exc.mark.column + 1, "", exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([Problem(file, line, col, "", f"invalid YAML: {reason}")]) from None
    except RecursionError:  # not reached within MAX_DEPTH; a guard for unusual documents
        raise SpecError([Problem(file, None, None, "", f"the spec nests deeper than {MAX_DEPTH} levels")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, root


def read_text(path: Path) -> str:
    """The spec file's text; files over :data:`MAX_SPEC_BYTES` are refused before they are read."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError([Problem(file, None, None, "", f"the spec is {size / 2**20:.1f} MiB; at most {MAX_SPEC_BYTES // 1024} KiB is read (a spec file holds settings, not data)")])
        with path.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError([Problem(file, None, None, "", f"the spec is larger than {MAX_SPEC_BYTES // 1024} KiB")])
        return raw.decode("utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(file, None, None, "", "no such spec file")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(file, None, None, "", "a folder, not a spec file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(file, None, None, "", f"cannot read spec: {exc}")]) from None


def read_yaml(path: Path) -> tuple[Any, _Located]:
    """Parse ``path`` under the bounds; duplicate keys and syntax errors become a :class:`SpecError`."""
    file = str(path)
    data, root = parse_yaml(read_text(Path(path)), file)
    where = _Located(file, root)
    dups = _duplicate_keys(where, root)
    if dups:
        raise SpecError(dups)
    return data, where


def _duplicate_keys(where: _Located, node: yaml.Node | None, loc: Loc = (), seen_nodes: set[int] | None = None) -> list[Problem]:
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if node is None or id(node) in seen_nodes:  # an alias's target was checked where it was defined
        return []
    seen_nodes.add(id(node))
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = getattr(k, "value", None)
            if isinstance(key, str) and key in seen:
                line, col = k.start_mark.line + 1, k.start_mark.column + 1
                problems.append(Problem(where.file, line, col, format_path(loc + (str(key),)), f"key {key!r} appears twice"))
            if isinstance(key, str):
                seen.add(key)
            problems += _duplicate_keys(where, v, loc + (str(key),), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            problems += _duplicate_keys(where, v, loc + (i,), seen_nodes)
    return problems


# --- overrides ------------------------------------------------------------------------------


def parse_override(text: str) -> Override:
    """``PATH=VALUE`` with VALUE read as YAML (``train.lr=1e-3``, ``seeds=[0, 1]``, ``grid.model.width=[0.5, 1]``)."""
    where = f"--set {text}"
    path_text, eq, value_text = text.partition("=")
    path_text = path_text.strip()
    if not eq or not path_text:
        raise SpecError([Problem(where, None, None, "", "expected PATH=VALUE, e.g. --set train.iterations=100")])
    parts = path_text.split(".")
    if parts[0] == "grid" and len(parts) > 1:
        path: Loc = ("grid", ".".join(parts[1:]))
    else:
        path = tuple(int(p) if p.isdigit() else p for p in parts)
    if any(p == "" for p in parts):
        raise SpecError([Problem(where, None, None, "", f"{path_text!r} is not a field path (empty part)")])
    try:
        value, _ = parse_yaml(value_text, where)
    except SpecError as exc:
        raise SpecError([Problem(where, None, None, path_text, p.message) for p in exc.problems]) from None
    return Override(text, path, value)


def _apply_override(data: dict[str, Any], o: Override) -> Problem | None:
    node: Any = data
    for i, part in enumerate(o.path[:-1]):
        if isinstance(node, dict):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            node = nxt
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return Problem(o.where, None, None, format_path(o.path), f"{format_path(o.path[:i]) or 'the spec'} has no entry {part!r} to set")
    last = o.path[-1]
    if isinstance(node, dict):
        node[last] = o.value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = o.value
    else:
        return Problem(o.where, None, None, format_path(o.path), f"{format_path(o.path[:-1]) or 'the spec'} is not a mapping with a {last!r} entry")
    return None


# --- the resolved spec ------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecInfo:
    """What semantic checks of a study need: the resolved run and its layers."""

    run: ResolvedRun
    layers: dict[str, Any]  # name -> redundancy.models.LayerInfo
    checkpoints: list[int]


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
    where: _Located | None = field(default=None, repr=False, compare=False)

    def problem(self, point: GridPoint, locs: Sequence[Loc], message: str) -> Problem:
        """A problem of ``point``'s run about the fields ``locs`` (the first one a grid value decides, else ``locs[0]``)."""
        where = self.where or _Located(self.file, None)
        return _point_problem(where, self.spec, point.values, locs, message)


def _label_value(value: Any) -> str:
    return str(value).replace("/", "-").replace(" ", "")


def run_label(point: dict[str, Any]) -> str:
    """A readable, unique-per-grid-point name: ``run`` or e.g. ``width0.5_seed1``."""
    if not point:
        return "run"
    return "_".join(f"{path.split('.')[-1]}{_label_value(v)}" for path, v in point.items())


def _axes(spec: Spec) -> dict[str, list[Any]]:
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


def _point_problem(where: _Located, spec: Spec, point: dict[str, Any], locs: Sequence[Loc], message: str) -> Problem:
    for loc in locs:
        for axis, value in point.items():
            parts = tuple(axis.split("."))
            n = min(len(parts), len(loc))
            if parts[:n] == tuple(loc)[:n]:  # the axis sets this field, or a section holding it, or a field inside it
                return where.problem(_axis_loc(spec, axis, value), f"{message} (grid value {_short(value)} of {axis!r})")
    return where.problem(locs[0], message)


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
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
            return f"{where} has no field {part!r}{_did_you_mean(part, options)} (expected one of: {', '.join(options)})"
        model = _model_in(fields[part].annotation)
    return None


def _check_grid(where: _Located, data: dict[str, Any]) -> list[Problem]:
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
            problems.append(where.problem(loc, f"grid axis must start with one of {', '.join(sorted(GRID_ROOTS))}{_did_you_mean(root, GRID_ROOTS)}; found {path!r}", at_key=True))
            continue
        why = _field_path_problem(str(path))
        if why is not None:
            problems.append(where.problem(loc, f"grid axis is not a field: {why}", at_key=True))
            continue
        if not isinstance(values, list) or not values:
            problems.append(where.problem(loc, f"expected a non-empty list of values; found {_short(values)}"))
            continue
        parts = tuple(str(path).split("."))
        # Only the section the axis sets is validated with each value: a grid of 100,000 values
        # validates 100,000 sections, not 100,000 whole runs.
        section: type[BaseModel] = _model_in(RunConfig.model_fields[root].annotation) or RunConfig
        for i, value in enumerate(values):
            trial: dict[str, Any] = pickle.loads(base_blob)  # a deep copy
            if root != "seed" and not isinstance(trial.setdefault(root, {}), dict):
                break  # the section itself is wrong; reported by the schema
            try:
                _set_path(trial, str(path), value)
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
                    suffix = "" if "found " in text else f"; found {_short(value)}"
                    problems.append(where.problem(loc + (i,), f"{text}{suffix} for {path!r}"))
    return _unique(problems)


def _grid_size(data: dict[str, Any]) -> int:
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


class _Registry:
    """A registry seen through its lookup: built-ins, installed entry points and import paths.

    ``name in registry`` resolves plugins (importing their modules); iterating lists
    the built-in and entry-point names, which is what "expected one of" shows.
    """

    def __init__(self, what: str, builtins: dict[str, Any], lookup: Any, group: str):
        self.what = what
        self.builtins = builtins
        self.lookup = lookup
        self.group = group
        # Looked up once per name: a 100,000-point grid asks for the same few names a million times.
        self._entries: dict[str, Any] = {}
        self._problems: dict[str, str | None] = {}

    def __iter__(self) -> Any:
        from redundancy.plugins import entry_point_names

        return iter([*self.builtins, *(n for n in entry_point_names(self.group) if n not in self.builtins)])

    def __getitem__(self, name: str) -> Any:
        if name not in self._entries:
            self._entries[name] = self.lookup(name)
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.problem(name) is None

    def problem(self, name: str) -> str | None:
        """Why ``name`` is not a usable model or dataset, or None."""
        if name not in self._problems:
            self._problems[name] = self._problem(name)
        return self._problems[name]

    def _problem(self, name: str) -> str | None:
        from redundancy.errors import RedundancyError
        from redundancy.plugins import PluginError, is_import_path

        if name in self.builtins:
            return None
        try:
            self[name]
        except PluginError as exc:
            return str(exc)
        except RedundancyError:
            names = list(self)
            hint = "" if is_import_path(name) else _did_you_mean(name, names)
            return f"unknown {self.what} {name!r}{hint} (expected one of: {', '.join(names)}, or an import path 'package.module:function')"
        return None


def _registries() -> tuple[_Registry, _Registry]:
    from redundancy.data import DATASETS, get_dataset
    from redundancy.models import MODELS, get_model
    from redundancy.plugins import DATASET_GROUP, MODEL_GROUP

    return _Registry("dataset", DATASETS, get_dataset, DATASET_GROUP), _Registry("model", MODELS, get_model, MODEL_GROUP)


def _check_names(where: _Located, data: dict[str, Any], section: str, field_name: str, registry: _Registry, what: str) -> list[Problem]:
    value = data.get(section, {}).get(field_name) if isinstance(data.get(section), dict) else None
    if isinstance(value, str):
        why = registry.problem(value)
        if why is not None:
            return [where.problem((section, field_name), why)]
    return []


#: Fields the loader fills in from plugins and files; a spec that writes them is wrong.
_DERIVED = {("model", "plugin"): "the model plugin's version", ("data", "plugin"): "the dataset plugin's version", ("train", "checkpoint_sha256"): "the SHA-256 of the from_checkpoints files"}


def _needs_init(kind: str) -> bool:
    """The kind reads the initialization (iteration 0) of the run (its package's entry says so)."""
    from redundancy.studies import BUILTIN

    return kind in BUILTIN and BUILTIN[kind].reads_init


def _retrains(kind: str) -> bool:
    """The kind trains networks again (a pruning study also does when it fine-tunes)."""
    from redundancy.studies import BUILTIN

    return kind in BUILTIN and BUILTIN[kind].retrains


def _plugin_problems(where: _Located, data: dict[str, Any], registries: tuple[_Registry, _Registry]) -> list[Problem]:
    """Fields only the loader sets, options of built-ins, options a plugin's schema refuses, imports without files."""
    from redundancy.plugins import options_model

    problems: list[Problem] = []
    for (section, name), what in _DERIVED.items():
        sec = data.get(section)
        if isinstance(sec, dict) and name in sec:
            problems.append(where.problem((section, name), f"{section}.{name} is set by redundancy ({what}); remove it from the spec", at_key=True))
    split = data.get("data", {}).get("split") if isinstance(data.get("data"), dict) else None
    if isinstance(split, dict) and "sha256" in split:
        problems.append(where.problem(("data", "split", "sha256"), "data.split.sha256 is set by redundancy (the SHA-256 of the split files); remove it from the spec", at_key=True))
    for section, registry in zip(("data", "model"), registries):
        sec = data.get(section)
        if not isinstance(sec, dict) or not isinstance(sec.get("name", ""), str):
            continue
        name = sec.get("name") or ("mnist-5k" if section == "data" else "lenet_300_100")
        options = sec.get("options")
        if options is None or registry.problem(name) is not None:
            continue
        entry = registry[name]
        if entry.plugin is None:
            if options:
                problems.append(where.problem((section, "options"), f"options are passed to {section} plugins; {registry.what} {name!r} is built in"))
            continue
        schema = options_model(entry.plugin)
        if schema is not None and isinstance(options, dict):
            try:
                schema.model_validate(options)
            except ValidationError as exc:
                problems += pydantic_problems(where, exc, schema, (section, "options"))
    train = data.get("train")
    if isinstance(train, dict) and not train.get("from_checkpoints"):
        for key in ("keys", "best_iteration", "data_contract"):
            if train.get(key) is not None:
                problems.append(where.problem(("train", key), f"train.{key} applies to imported runs; set train.from_checkpoints too", at_key=True))
    return problems


def _uses_best(value: Any, loc: Loc = ()) -> list[Loc]:
    """Field paths in a study config (dumped) whose value is the checkpoint name ``best``."""
    if isinstance(value, str):
        return [loc] if value == "best" else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _uses_best(v, loc + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _uses_best(v, loc + (i,))]
    return []


def _import_checks(run: ResolvedRun, studies: list[tuple[int, StudyConfig]], shape: Any, classes: int) -> list[tuple[list[Loc], str]]:
    """Problems of a run that imports its checkpoints: files, keys and shapes, best and init references."""
    from redundancy.checkpoints import check_files

    out: list[tuple[list[Loc], str]] = []
    files = run.train.from_checkpoints or {}
    for it, message in check_files(run, tuple(shape), classes):
        out.append(([("train", "from_checkpoints", it), ("train", "from_checkpoints")], message))
    best = run.train.best_iteration
    if best is not None and best not in files:
        out.append(([("train", "best_iteration")], f"best_iteration {best} is not an imported iteration (from_checkpoints has {sorted(files)})"))
    for i, study in studies:
        if best is None:
            for sub in _uses_best(study.model_dump(mode="json", exclude={"name"})):
                out.append(([("studies", i) + sub, ("studies", i)], f"{study.kind} uses checkpoint 'best', but the run imports its checkpoints without train.best_iteration; set it, or name final or an iteration (pruning's checkpoint is best unless set)"))
        if _needs_init(study.kind) and 0 not in files:
            out.append(([("studies", i, "kind"), ("studies", i)], f"{study.kind} needs the initialization, iteration 0; train.from_checkpoints has no file for it (it has {sorted(files)})"))
    return out


def _retrain_note(run: ResolvedRun, studies: list[tuple[int, StudyConfig]], given: set[str]) -> str | None:
    """What the studies that train again use for training, and which values are the model's defaults."""
    kinds = [s.kind for _, s in studies if _retrains(s.kind) or getattr(s, "finetune", None) is not None]
    if not kinds:
        return None
    fields = ("optimizer", "lr", "momentum", "batch_size", "iterations", "lr_milestones")
    values = ", ".join(f"{f} {getattr(run.train, f)}" for f in fields)
    defaults = [f for f in fields if f not in given]
    note = f" (model {run.model.name!r} defaults: {', '.join(defaults)})" if defaults else ""
    return f"the run imports its checkpoints; studies that train again ({', '.join(dict.fromkeys(kinds))}) train with {values}{note}"


def _studies(where: _Located, data: dict[str, Any], kinds: dict[str, Any]) -> tuple[list[tuple[int, StudyConfig]], list[Problem]]:
    problems: list[Problem] = []
    studies: list[tuple[int, StudyConfig]] = []
    raw = data.get("studies", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        return [], [where.problem(("studies",), f"expected a list of studies; found {_short(raw)}")]
    for i, item in enumerate(raw):
        loc: Loc = ("studies", i)
        if not isinstance(item, dict):
            problems.append(where.problem(loc, f"expected a mapping with a 'kind'; found {_short(item)}"))
            continue
        kind = item.get("kind")
        if kind is None:
            problems.append(where.problem(loc, f"required field 'kind' is missing (expected one of: {', '.join(kinds)})"))
            continue
        for field_name in ("plugin", "plugin_identity"):
            if field_name in item:
                problems.append(where.problem(loc + (field_name,), f"'{field_name}' is set by the loader from 'kind'; remove it"))
        if isinstance(kind, str) and kind not in kinds:
            from redundancy.studies import plugins

            try:
                plugin = plugins.resolve(kind)
            except KeyError:
                pass
            except plugins.PluginError as exc:
                problems.append(where.problem(loc + ("kind",), str(exc)))
                continue
            else:
                config_cls = plugin.kind.config
                try:
                    config = config_cls.model_validate({**item, "kind": plugin.kind.name})
                    studies.append((i, config.model_copy(update={"plugin": kind, "plugin_identity": plugin.identity})))
                except ValidationError as exc:
                    problems += pydantic_problems(where, exc, config_cls, loc)
                continue
        if not isinstance(kind, str) or kind not in kinds:
            known = [*kinds, *plugins_installed()]
            hint = _did_you_mean(kind, known) if isinstance(kind, str) else ""
            problems.append(where.problem(loc + ("kind",), f"unknown study kind {_short(kind)}{hint} (expected one of: {', '.join(known)}, or an import path 'package.module:attribute')"))
            continue
        config_cls = kinds[kind].config
        try:
            studies.append((i, config_cls.model_validate(item)))
        except ValidationError as exc:
            problems += pydantic_problems(where, exc, config_cls, loc)
    names = [s.name for _, s in studies if s.name]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(where.problem(("studies",), f"two studies are named {dup!r}; names must be unique"))
    # A name may not be another study's default label either: both would be the same store path.
    labels = study_labels([s for _, s in studies])
    defaults = {label: i for (i, s), label in zip(studies, labels) if not s.name}
    kinds_at = {i: s.kind for i, s in studies}
    for i, s in studies:
        if s.name and s.name in defaults:
            j = defaults[s.name]
            problems.append(where.problem(("studies", i, "name"), f"name {s.name!r} is also the default label of studies[{j}] (kind {kinds_at[j]}, no name); "
                                          "names must differ from every study's name and default label: rename one"))
    return studies, problems


def study_labels(studies: Sequence[StudyConfig]) -> list[str]:
    """Each study's label in the store: its ``name``, else its kind (numbered when a kind repeats)."""
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


def plugins_installed() -> list[str]:
    """Names of the installed study kind entry points (their code is not imported)."""
    from redundancy.studies.plugins import entry_point_names

    return entry_point_names()


def _study_checks(study: StudyConfig, info: SpecInfo, kinds: Any) -> list[tuple[Sequence[str | int], str]]:
    """A study's semantic checks: its kind's ``check``; a plugin's, with a failure inside it named as the plugin's."""
    from redundancy.studies import plugin_of

    plugin = plugin_of(study)
    if plugin is None:
        check = kinds[study.kind].check
        return list(check(study, info)) if check is not None else []
    if plugin.kind.check is None:
        return []
    from redundancy.studies.plugins import PluginError, call

    try:
        return list(call(plugin, "check", plugin.kind.check, study, info))
    except PluginError as exc:
        return [((), str(exc))]


def _sorted(problems: list[Problem]) -> list[Problem]:
    """By file position; problems without a line (missing fields, overrides) after those with one."""
    return sorted(_unique(problems), key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def _contract_checks(run: ResolvedRun, entry: Any, shape: Any) -> list[tuple[list[Loc], str]]:
    """A declared split and preprocessing: on an image dataset, with as many values as channels, agreeing with data_contract."""
    out: list[tuple[list[Loc], str]] = []
    data, contract = run.data, run.train.data_contract
    for name in ("preprocess", "split"):
        if getattr(data, name) is not None and not entry.images:
            out.append(([("data", name), ("data",)], f"data.{name} applies to image datasets (mnist, fashion-mnist, cifar10, mnist-5k); {data.name!r} is not one"))
    if data.preprocess is not None and entry.images:
        for name in ("mean", "std"):
            value = getattr(data.preprocess, name)
            if isinstance(value, list) and len(value) != shape[0]:
                out.append(([("data", "preprocess", name), ("data", "preprocess")], f"data.preprocess.{name} has {len(value)} values; {data.name} images have {shape[0]} channels"))
    if contract == "declared" and data.split is None:
        out.append(([("train", "data_contract"), ("data",)], "train.data_contract is 'declared' but the data section declares no split; set data.split"))
    if contract == "redundancy" and (data.split is not None or data.preprocess is not None):
        out.append(([("train", "data_contract"), ("data",)], "train.data_contract is 'redundancy' but the data section declares its own split or preprocessing; use 'declared'"))
    return out


def _run_checks(run: ResolvedRun, datasets: dict[str, Any], models: dict[str, Any]) -> list[tuple[list[Loc], str]]:
    """Problems of one resolved run that need the registries (dataset sizes, model input)."""
    from redundancy.data import validation_count
    from redundancy.data.contract import split_rows

    out: list[tuple[list[Loc], str]] = []
    if run.data.name not in datasets or run.model.name not in models:
        for section, name, registry in (("data", run.data.name, datasets), ("model", run.model.name, models)):
            if name not in registry:
                out.append(([(section, "name"), (section,)], f"unknown {'dataset' if section == 'data' else 'model'} {name!r} (expected one of: {', '.join(registry)})"))
        return out
    entry = datasets[run.data.name]
    try:
        pool, test = entry.sizes(run.data)
        shape, _ = entry.shape(run.data)
    except RedundancyError as exc:  # a dataset plugin that fails or returns the wrong thing
        return [([("data", "name"), ("data",)], str(exc))]
    out += _contract_checks(run, entry, shape)
    if run.data.split is not None and not out:
        try:
            train, test = split_rows(pool + test, run.data.split)
        except RedundancyError as exc:
            return out + [([("data", "split"), ("data",)], str(exc))]
        pool, test = len(train), len(test)
    try:
        held = validation_count(pool, run.train.validation)
    except Exception as exc:  # DataError: a split that does not fit the pool
        out.append(([("train", "validation"), ("data",)], f"{exc} ({run.data.name})"))
        held = None
    if held is not None and not entry.generated and run.data.train_samples is not None and run.data.train_samples > pool - held:
        out.append(([("data", "train_samples"), ("data",)], f"{run.data.name} has {pool - held} training samples after holding out {held} for validation; found train_samples {run.data.train_samples}"))
    if not entry.generated and run.data.test_samples is not None and run.data.test_samples > test:
        out.append(([("data", "test_samples"), ("data",)], f"{run.data.name} has {test} test samples; found test_samples {run.data.test_samples}"))
    if run.model.widths is not None and run.model.name != "mlp":
        out.append(([("model", "widths"), ("model",)], f"'widths' applies to model 'mlp' only; found model {run.model.name!r}"))
    if models[run.model.name].plugin is None and models[run.model.name].needs_images and len(shape) != 3:
        out.append(([("model", "name"), ("data", "name")], f"model {run.model.name!r} needs image data (C, H, W); dataset {run.data.name!r} gives shape {tuple(shape)}"))
    return out


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
    data, root = parse_yaml(text, file)
    problems: list[Problem] = []
    parsed: list[Override] = []
    for o in overrides:
        try:
            parsed.append(parse_override(o))
        except SpecError as exc:
            problems += exc.problems
    where = _Located(file, root, parsed)
    problems += _duplicate_keys(where, root)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError([where.problem((), f"a spec must be a mapping of fields; found {type(data).__name__}")])
    if parsed:
        for o in parsed:
            bad = _apply_override(data, o)
            if bad is not None:
                problems.append(bad)
    size = _grid_size(data)
    if size > MAX_GRID_POINTS:
        loc: Loc = ("grid",) if isinstance(data.get("grid"), dict) else ("seeds",)
        raise SpecError(_sorted(problems + [where.problem(loc, f"the grid has {size:,} points; at most {MAX_GRID_POINTS:,} runs per spec (split it into several specs)")]))

    # Past the bounds: the registries (and torch with them) may load now.
    from redundancy.studies import STUDIES

    if not file.startswith("<"):  # plugin modules beside the spec file come before sys.path
        from redundancy.plugins import look_beside

        look_beside(Path(file).parent, _plugin_names(data))

    DATASETS, MODELS = _registries()
    spec: Spec | None = None
    try:
        spec = Spec.model_validate({k: v for k, v in data.items() if k != "studies"})
    except ValidationError as exc:
        problems += pydantic_problems(where, exc, Spec)
    studies, study_problems = _studies(where, data, STUDIES)
    problems += study_problems
    problems += _check_grid(where, data)
    problems += _check_names(where, data, "data", "name", DATASETS, "dataset")
    problems += _check_names(where, data, "model", "name", MODELS, "model")
    raw_grid = data.get("grid") if isinstance(data.get("grid"), dict) else {}
    for axis, registry, what in (("data.name", DATASETS, "dataset"), ("model.name", MODELS, "model")):
        values = raw_grid.get(axis)
        for i, value in enumerate(values if isinstance(values, list) else []):
            why = registry.problem(value) if isinstance(value, str) else None
            if why is not None:
                problems.append(where.problem(("grid", axis, i), why))
    problems += _plugin_problems(where, data, (DATASETS, MODELS))
    if spec is not None and spec.executor:
        problems += _executor_problems(where, spec.executor)
    if problems or spec is None:
        raise SpecError(_sorted(problems))

    spec = spec.model_copy(update={"studies": [s for _, s in studies]})
    resolved = _resolve(spec, where, text, file, parsed, studies, STUDIES, DATASETS, MODELS)
    return resolved


def _plugin_names(data: dict[str, Any]) -> list[Any]:
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


def _executor_problems(where: _Located, section: dict[str, Any]) -> list[Problem]:
    from redundancy.engine.executors import section_problems  # the options of the executor its kind names

    return section_problems(section, where)


def resolve(spec: Spec, text: str = "", file: str = "<spec>") -> ResolvedSpec:
    """Resolve an already validated :class:`Spec` (built in code, not read from a file)."""
    from redundancy.studies import STUDIES

    datasets, models = _registries()
    return _resolve(spec, _Located(file, None), text, file, [], list(enumerate(spec.studies)), STUDIES, datasets, models)


def _resolve(
    spec: Spec,
    where: _Located,
    text: str,
    file: str,
    overrides: list[Override],
    studies: list[tuple[int, StudyConfig]],
    kinds: dict[str, Any],
    datasets: dict[str, Any],
    models: dict[str, Any],
) -> ResolvedSpec:
    from redundancy.data.contract import unseen_warning
    from redundancy.models import describe_layers

    grid = _axes(spec)
    base = {"seed": spec.seed, "data": spec.data.model_dump(), "model": spec.model.model_dump(), "train": spec.train.model_dump()}
    base_blob = pickle.dumps(base)
    keys = list(grid)
    problems: dict[tuple[str, int | None, int | None, str, str], list[str]] = {}
    located: dict[tuple[str, int | None, int | None, str, str], Problem] = {}

    def report(point: dict[str, Any], locs: Sequence[Loc], message: str) -> None:
        p = _point_problem(where, spec, point, locs, message)
        key = (p.file, p.line, p.column, p.path, p.message)
        located.setdefault(key, p)
        problems.setdefault(key, []).append(run_label(point))

    spec_dir = Path(file).parent
    derived: dict[str, list[tuple[list[Loc], str]]] = {}  # shared -> problems found deriving plugin and file identities
    layer_cache: dict[str, dict[str, Any] | Exception] = {}
    templates: dict[str, tuple[ResolvedRun, str]] = {}  # grid values but the seed -> (run, its config but the seed)
    checked: dict[str, tuple[list[tuple[list[Loc], str]], Any, list[int]]] = {}  # shared -> (problems, layers, checkpoints)
    points: list[GridPoint] = []
    notes_found: dict[tuple[Any, ...], Problem] = {}  # warnings about what a run does that may not be what was meant
    raw_validation = _raw_value(where, ("train", "validation"))
    seen: dict[tuple[str, int], int] = {}  # identity -> number of the first point with it
    merged: dict[int, list[int]] = {}
    firsts: dict[int, dict[str, Any]] = {}

    for number, combo in enumerate(_product([grid[k] for k in keys]), start=1):
        point = dict(zip(keys, combo))
        # Runs equal but for their seed share one validated, resolved and checked config.
        rest = {k: v for k, v in point.items() if k != "seed"}
        values_key = json.dumps(rest, sort_keys=True, default=repr)
        if values_key not in templates:
            values = pickle.loads(base_blob)  # a deep copy, in C: a 100,000-point grid makes as many
            for path, value in rest.items():
                _set_path(values, path, value)
            pre = _derive(values, spec_dir, datasets, models)
            run0 = RunConfig.model_validate(values)
            template = ResolvedRun(seed=run0.seed, data=run0.data, model=run0.model, train=resolve_train(run0.train, run0.model))
            templates[values_key] = (template, template.model_dump_json(exclude={"seed": True, "train": EXECUTION_ONLY_TRAIN}))
            derived[templates[values_key][1]] = pre
        template, shared = templates[values_key]
        seed = point.get("seed", template.seed)
        if type(seed) is not int:  # e.g. 1.0 from YAML: the int the schema makes of it
            seed = RunConfig.model_validate({"seed": seed}).seed
        run = template if seed == template.seed else template.model_copy(update={"seed": seed})
        identity = (shared, seed)
        if identity in seen:
            merged.setdefault(seen[identity], [seen[identity]]).append(number)
            continue
        seen[identity] = number
        firsts[number] = point

        if shared not in checked:
            found = list(derived.get(shared, []))
            if not found:
                found = _run_checks(run, datasets, models)
            layers: Any = None
            checkpoints: list[int] = []
            if not found:
                shape, classes = datasets[run.data.name].shape(run.data)
                model_key = run.model.model_dump_json() + json.dumps([shape, classes])
                if model_key not in layer_cache:
                    try:
                        layer_cache[model_key] = describe_layers(run.model, shape, classes)
                    except (Exception, SystemExit) as exc:  # a model that cannot take this data (or a plugin that exits)
                        layer_cache[model_key] = exc if isinstance(exc, Exception) else RedundancyError(f"it called sys.exit({exc.code!r})")
                layers = layer_cache[model_key]
                if isinstance(layers, BaseException):
                    reason = str(layers).strip().splitlines()[0] if str(layers).strip() else type(layers).__name__  # torch appends C++ frames
                    found.append(([("model",)], f"model {run.model.name!r} cannot be built for dataset {run.data.name!r}: {reason}"))
                elif run.train.from_checkpoints:
                    found += _import_checks(run, studies, shape, classes)
                if not found:
                    checkpoints = checkpoint_iterations(run.train)
                    info = SpecInfo(run, layers, checkpoints)
                    for i, study in studies:
                        for sub, message in _study_checks(study, info, kinds):
                            found.append(([("studies", i) + tuple(sub)], message))
            checked[shared] = (found, layers, checkpoints)
            if not found:
                for locs, message in _run_notes(run, datasets, raw_validation):
                    note = _point_problem(where, spec, point, locs, message)
                    notes_found.setdefault((note.file, note.line, note.column, note.path, note.message), note)
        found, layers, checkpoints = checked[shared]
        for locs, message in found:
            report(point, locs, message)
        if not found:
            points.append(GridPoint(point, run, layers, checkpoints, shared))

    for i, study in studies:  # a study that pairs each run with the next seed needs a seed grid
        if getattr(study, "paired_run", False) and points and len({gp.shared for gp in points}) == len(points):
            report(points[0].values, [("studies", i, "partner"), ("studies", i)], f"{study.kind} with partner: seed pairs each run with the next seed of the same config; list two or more seeds in `seeds`")

    if problems:
        out = []
        for key, labels in problems.items():
            p = located[key]
            if len(labels) < len(seen) and not (p.path.startswith("grid") or p.path.startswith("seeds")):  # where, when not everywhere
                more = f" and {len(labels) - 1} more" if len(labels) > 1 else ""
                p = Problem(p.file, p.line, p.column, p.path, f"{p.message} (at grid point {labels[0]}{more})")
            out.append(p)
        raise SpecError(_sorted(out))

    warnings = []
    for numbers in merged.values():  # numbers in the grid's expansion order, as --dry-run lists them
        loc = ("grid",) if spec.grid else ("seeds",)
        label = run_label(firsts[numbers[0]])
        warnings.append(where.problem(loc, f"grid points {', '.join(map(str, numbers))} ({label}) are the same run; it is trained once"))
    warnings += notes_found.values()
    given = set(spec.train.model_fields_set)
    notes: dict[str, GridPoint] = {}
    for gp in points:
        if gp.run.train.from_checkpoints:
            notes.setdefault(gp.shared, gp)
    for gp in notes.values():
        unseen = unseen_warning(gp.run)
        if unseen is not None:
            warnings.append(where.problem(("train", "from_checkpoints"), unseen))
        note = _retrain_note(gp.run, studies, given)
        if note is not None:
            warnings.append(where.problem(("train", "from_checkpoints"), note))
    override_text = "".join(f"\n# --set {o.text}" for o in overrides)
    return ResolvedSpec(spec, text + override_text if overrides else text, file, points, tuple(o.text for o in overrides), warnings, where)


def _raw_value(where: _Located, loc: Loc) -> Any:
    """The value at ``loc`` as written (in the file or a ``--set``), or None: whether ``1.0`` was written as a float."""
    override = where.override_at(loc)
    if override is not None:
        value: Any = override.value
        for part in loc[len(override.path):]:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if where.root is None or not where._in_file(loc):
        return None
    node, _ = where._node(loc)
    if isinstance(node, yaml.ScalarNode):
        return yaml.safe_load(node.value) if not node.style else node.value  # plain (libyaml says "", PyYAML None)
    return None


def _run_notes(run: ResolvedRun, datasets: Any, raw_validation: Any) -> list[tuple[list[Loc], str]]:
    """What a valid run does that may not be what its spec meant: warnings, not errors."""
    from redundancy.data import validation_count

    notes: list[tuple[list[Loc], str]] = []
    train = run.train
    if isinstance(raw_validation, float) and raw_validation >= 1 and raw_validation == train.validation:
        notes.append(([("train", "validation")], f"validation {raw_validation!r} is read as a count: {int(raw_validation)} sample(s) held out for validation, "
                                                  "not a fraction; write a value below 1 for a fraction, or a whole number for a count"))
    if isinstance(train.checkpoints, list):
        past = sorted(i for i in train.checkpoints if i > train.iterations)
        if past:
            notes.append(([("train", "checkpoints"), ("train", "iterations")], f"checkpoint iteration(s) {past[:5]} are past the last iteration {train.iterations:,} and are not kept"))
    if train.from_checkpoints:
        return notes  # no training: batch sizes do not apply
    entry = datasets[run.data.name]
    try:
        pool, _ = entry.sizes(run.data)
        samples = pool - validation_count(pool, train.validation)
    except Exception:  # reported as an error by the checks
        return notes
    if run.data.train_samples is not None and not entry.generated:
        samples = min(samples, run.data.train_samples)
    if train.batch_size > samples:
        notes.append(([("train", "batch_size")], f"batch size {train.batch_size:,} is larger than the {samples:,} training samples; every step uses all of them (full-batch training)"))
    return notes


def _derive(values: dict[str, Any], spec_dir: Path, datasets: Any, models: Any) -> list[tuple[list[Loc], str]]:
    """Fill what the loader derives into a run's raw ``values``: plugin identities, the checkpoint
    files' absolute paths (relative ones are relative to the spec's folder) and their SHA-256."""
    from redundancy.checkpoints import file_digests

    problems: list[tuple[list[Loc], str]] = []
    for section, registry in (("data", datasets), ("model", models)):
        sec = values.get(section)
        if isinstance(sec, dict):
            sec["plugin"] = None
            name = sec.get("name")
            if isinstance(name, str) and registry.problem(name) is None and registry[name].plugin is not None:
                sec["plugin"] = registry[name].plugin.identity
    problems += _derive_split(values.get("data"), spec_dir)
    train = values.get("train")
    files = train.get("from_checkpoints") if isinstance(train, dict) else None
    if isinstance(train, dict):
        train["checkpoint_sha256"] = None
    if isinstance(files, dict) and files:
        resolved: dict[Any, str] = {}
        for it, path in files.items():
            if not isinstance(path, str):
                continue  # the schema reports it
            p = Path(path).expanduser()
            p = p if p.is_absolute() else (spec_dir / p)
            if not p.is_file():
                problems.append(([("train", "from_checkpoints", it), ("train", "from_checkpoints")], f"no checkpoint file {path!r} (looked for {p})"))
            resolved[it] = str(p.resolve()) if p.exists() else str(p)
        train["from_checkpoints"] = resolved
        if not problems:
            try:
                train["checkpoint_sha256"] = file_digests({int(it): p for it, p in resolved.items()})
            except (OSError, ValueError) as exc:
                problems.append(([("train", "from_checkpoints")], f"cannot read the checkpoint files: {exc}"))
    return problems


def _derive_split(data: Any, spec_dir: Path) -> list[tuple[list[Loc], str]]:
    """``data.split``'s files made absolute (relative ones are relative to the spec's folder) with their SHA-256."""
    from redundancy.data import file_sha256

    split = data.get("split") if isinstance(data, dict) else None
    if not isinstance(split, dict):
        return []
    split["sha256"] = None
    problems: list[tuple[list[Loc], str]] = []
    found: dict[str, Path] = {}
    for name in ("train", "test"):
        path = split.get(name)
        if not isinstance(path, str):
            continue  # the schema reports it
        p = Path(path).expanduser()
        p = p if p.is_absolute() else spec_dir / p
        if not p.is_file():
            problems.append(([("data", "split", name), ("data", "split")], f"no split file {path!r} (looked for {p})"))
            continue
        split[name] = str(p.resolve())
        found[name] = p
    if not problems and found:
        try:
            split["sha256"] = {name: file_sha256(p) for name, p in found.items()}
        except OSError as exc:
            return [([("data", "split")], f"cannot read the split files: {exc}")]
    return problems


def _product(axes: list[list[Any]]) -> Iterable[tuple[Any, ...]]:
    import itertools

    return itertools.product(*axes) if axes else [()]


__all__ = [
    "GridPoint",
    "MAX_DEPTH",
    "MAX_GRID_POINTS",
    "MAX_NODES",
    "MAX_SPEC_BYTES",
    "Override",
    "ResolvedSpec",
    "SpecInfo",
    "format_path",
    "load_spec",
    "load_text",
    "parse_override",
    "pydantic_problems",
    "read_yaml",
    "resolve",
    "run_label",
]
