"""Where stages run: one module per executor and a registry of them.

``EXECUTORS`` maps an executor's ``kind`` to its class; each class carries its
own options model (:attr:`~redundancy.engine.executors.base.Executor.Options`,
a pydantic model whose ``kind`` field is the key). The registry is kept below the
engine (:mod:`redundancy.spec.executors`, naming each class by string) so that the
spec loader checks an ``executor:`` section without importing the engine. The spec's ``executor:``
section is the union of those models keyed on ``kind``:
:func:`spec_executor_options` validates it against the model its ``kind``
names, with file:line messages (:func:`section_problems`), and :func:`resolve_options` lays the command
line's flags over it. A section without ``kind`` carries options for whichever
executor ``--executor`` picks (default local): each key must be some
executor's option, and the chosen executor takes the ones it has. Adding an executor is one module (an options
model and an :class:`Executor` subclass) and one line in :data:`redundancy.spec.executors.EXECUTORS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from redundancy.engine.executors.base import Executor, ExecutorOptions, RemoteOptions
from redundancy.engine.executors.local import LocalExecutor, LocalOptions
from redundancy.engine.executors.ray import RayExecutor, RayOptions
from redundancy.engine.executors.slurm import SlurmExecutor, SlurmOptions, parse_time_limit, slurm_parameters
from redundancy.errors import RedundancyError, SpecError
from redundancy.spec.executors import DEFAULT_KIND, EXECUTORS
from redundancy.spec.executors import choices as _choices
from redundancy.spec.loader.executor import section_problems

__all__ = [
    "EXECUTORS", "Executor", "ExecutorOptions", "LocalExecutor", "LocalOptions", "RayExecutor", "RayOptions", "RemoteOptions",
    "SlurmExecutor", "SlurmOptions", "executor_class", "make_executor", "parse_time_limit", "resolve_options",
    "section_problems", "slurm_parameters", "spec_executor_options",
]


def executor_class(kind: str) -> type[Executor]:
    try:
        return EXECUTORS[kind]
    except KeyError:
        raise RedundancyError(f"unknown executor {kind!r}; expected {_choices()}") from None


def spec_executor_options(section: dict[str, Any] | None, spec_path: Path | None = None) -> ExecutorOptions | dict[str, Any]:
    """A spec's ``executor:`` section checked: the options of its ``kind``, or without ``kind`` the section itself.

    A section without ``kind`` holds options for whichever executor the
    command line picks (``--executor``, default local); :func:`resolve_options`
    takes from it what that executor has. Problems name the file, line and key.
    """
    where = None
    if spec_path is not None:
        from redundancy.spec.loader import read_yaml

        _, where = read_yaml(spec_path)
    problems = section_problems(section, where)
    if problems:
        raise SpecError(problems)
    section = dict(section or {})
    if "kind" not in section:
        return section
    return EXECUTORS[section["kind"]].Options.model_validate(section)


def _flag(key: str) -> str:
    return "--executor" if key == "kind" else "--" + key.replace("_", "-")


def resolve_options(base: ExecutorOptions | dict[str, Any], **flags: Any) -> ExecutorOptions:
    """``base`` (from the spec) with the command line's flags that were given (not None) on top.

    ``--executor`` other than the spec's kind starts from that executor's
    defaults; a spec section without ``kind`` (a dict) gives the chosen
    executor the options it has. A flag that the chosen executor has no option for is an error
    naming the executors that do, rather than being silently ignored.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    kind = given.pop("kind", None) or (base.get("kind", DEFAULT_KIND) if isinstance(base, dict) else base.kind)
    if kind not in EXECUTORS:
        raise RedundancyError(f"--executor: unknown executor {kind!r}; expected {_choices()}")
    cls = EXECUTORS[kind]
    fields = cls.Options.model_fields
    foreign = sorted(k for k in given if k not in fields)
    if foreign:
        users = [k for k, c in EXECUTORS.items() if all(f in c.Options.model_fields for f in foreign)]
        named = " or ".join(users) if users else "no executor"
        raise RedundancyError(f"{', '.join(map(_flag, foreign))} applies to --executor {named}, not {kind}")
    if isinstance(base, dict):
        start = {k: v for k, v in base.items() if k in fields}
    else:
        start = base.model_dump(exclude_unset=True) if base.kind == kind else {}
    try:
        options = cls.Options.model_validate({**start, **given, "kind": kind})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        name = _flag(key) if key else "executor option"
        text = first["msg"].replace("Value error, ", "")
        raise RedundancyError(f"{name}: {text}; found {first.get('input')!r}") from None
    cls.check(options)
    return options


def make_executor(options: ExecutorOptions, *, spec_name: str) -> Executor:
    """The executor ``options.kind`` names, made with ``options`` (raises a one-line error when it cannot start)."""
    cls = executor_class(options.kind)
    return cls(options, spec_name=spec_name)  # type: ignore[arg-type]
