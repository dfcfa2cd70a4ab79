"""A spec's ``executor:`` section, checked against the options of the executor its ``kind`` names.

The executors are named in :data:`redundancy.spec.executors.EXECUTORS`; each carries its
options model (a pydantic model whose ``kind`` field is the key). A section without
``kind`` carries options for whichever executor ``--executor`` picks (default local):
each key must be some executor's option, and its value valid for the first executor
that has it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from redundancy.errors import Problem
from redundancy.spec.executors import EXECUTORS, choices
from redundancy.spec.loader.located import pydantic_problems


def section_problems(section: dict[str, Any] | None, where: Any = None) -> list[Problem]:
    """What is wrong with a spec's ``executor:`` section, checked against the options of its ``kind``.

    ``where`` (the spec loader's located YAML) gives each problem its file, line
    and column; without it problems name the key only.
    """
    section = dict(section or {})
    if "kind" not in section:
        return _kindless_problems(section, where)
    kind = section["kind"]
    if not isinstance(kind, str) or kind not in EXECUTORS:
        message = f"unknown executor {kind!r}; expected {choices()}"
        return [where.problem(("executor", "kind"), message) if where is not None else Problem("executor", None, None, "executor.kind", message)]
    model = EXECUTORS[kind].Options
    try:
        model.model_validate(section)
    except ValidationError as exc:
        return _problems(exc, model, where)
    return []


def _problems(exc: ValidationError, model: type[BaseModel], where: Any) -> list[Problem]:
    if where is not None:
        return pydantic_problems(where, exc, model, ("executor",))
    return [Problem("executor", None, None, ".".join(map(str, ("executor", *e["loc"]))), e["msg"]) for e in exc.errors()]


def _kindless_problems(section: dict[str, Any], where: Any) -> list[Problem]:
    """A section without ``kind`` holds options for whichever executor the command line picks.

    Each key must be an option of some executor, and its value valid for the
    first executor (in registry order) that has it.
    """
    every: dict[str, Any] = {}
    for cls in EXECUTORS.values():
        for name in cls.Options.model_fields:
            if name != "kind":
                every.setdefault(name, (Any, None))
    names = create_model("AnyExecutorOptions", __config__=ConfigDict(extra="forbid"), **every)
    try:
        names.model_validate(section)
    except ValidationError as exc:
        return _problems(exc, names, where)
    problems: list[Problem] = []
    for key, value in section.items():
        model = next(c.Options for c in EXECUTORS.values() if key in c.Options.model_fields)
        try:
            model.model_validate({key: value})
        except ValidationError as exc:
            problems += _problems(exc, model, where)
    return problems
