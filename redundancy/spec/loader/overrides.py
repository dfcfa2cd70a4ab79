"""``--set PATH=VALUE`` overrides: parsed, applied to a spec's data, and the value a field was written with."""

from __future__ import annotations

from typing import Any

import yaml

from redundancy.errors import Problem, SpecError
from redundancy.spec.loader.located import Loc, Located, Override, format_path
from redundancy.spec.loader.reading import parse_yaml


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


def apply_override(data: dict[str, Any], o: Override) -> Problem | None:
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


def raw_value(where: Located, loc: Loc) -> Any:
    """The value at ``loc`` as written (in the file or a ``--set``), or None: whether ``1.0`` was written as a float."""
    override = where.override_at(loc)
    if override is not None:
        value: Any = override.value
        for part in loc[len(override.path):]:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if where.root is None or not where.in_file(loc):
        return None
    node, _ = where.node_at(loc)
    if isinstance(node, yaml.ScalarNode):
        return yaml.safe_load(node.value) if not node.style else node.value  # plain (libyaml says "", PyYAML None)
    return None
