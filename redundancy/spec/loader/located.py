"""Where a problem is: field paths, the line and column of a path in the composed YAML, or the ``--set`` that wrote it.

:class:`Located` turns a field path (``("train", "lr")``) into a :class:`~redundancy.errors.Problem`
naming the file, line and column, or the override that set the field; :func:`pydantic_problems`
does so for each error of a pydantic validation, with a "did you mean" for unknown fields.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from redundancy.errors import Problem
from redundancy.registry import did_you_mean


Loc = tuple[str | int, ...]


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


class Located:
    """Finds the line and column of a field path in a composed YAML tree (or the override that set it)."""

    def __init__(self, file: str, root: yaml.Node | None, overrides: Sequence[Override] = ()):
        self.file = file
        self.root = root
        self.overrides = list(overrides)

    def node_at(self, loc: Loc) -> tuple[yaml.Node | None, yaml.Node | None]:
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
            if loc and o.path[: len(loc)] == tuple(loc) and not self.in_file(loc):
                return o
        return None

    def in_file(self, loc: Loc) -> bool:
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
        node, key_node = self.node_at(loc)
        target = key_node if (at_key and key_node is not None) else node
        line = col = None
        if target is not None:
            line, col = target.start_mark.line + 1, target.start_mark.column + 1
        return Problem(self.file, line, col, format_path(loc), message)


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``X``, ``X | None`` or ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_in(arg)
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
        model = model_in(field_info.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


def pydantic_problems(
    where: Located, error: ValidationError, model: type[BaseModel], prefix: Loc = ()
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
            msg = f"unknown field {key!r}{did_you_mean(key, options)}"
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
                message += f"; found {short(e.get('input'))}"
            problems.append(where.problem(full, message))
    return unique(problems)


def unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """By file position; problems without a line (missing fields, overrides) after those with one."""
    return sorted(unique(problems), key=lambda p: (p.line is None, p.line or 0, p.column or 0))
