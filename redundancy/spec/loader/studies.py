"""A spec's ``studies:`` list: each study validated by its kind's config (built-in or plugin), names, checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from redundancy.errors import Problem
from redundancy.registry import did_you_mean
from redundancy.spec.loader.located import Loc, Located, pydantic_problems, short
from redundancy.spec.schema import SpecInfo, StudyConfig


def read_studies(where: Located, data: dict[str, Any], kinds: Any) -> tuple[list[tuple[int, StudyConfig]], list[Problem]]:
    """Each study of the ``studies:`` list validated by its kind's config (with its index), and the problems found."""
    problems: list[Problem] = []
    studies: list[tuple[int, StudyConfig]] = []
    raw = data.get("studies", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        return [], [where.problem(("studies",), f"expected a list of studies; found {short(raw)}")]
    for i, item in enumerate(raw):
        config = _read_study(where, ("studies", i), item, kinds, problems)
        if config is not None:
            studies.append((i, config))
    return studies, problems + _name_problems(where, studies)


def _read_study(where: Located, loc: Loc, item: Any, kinds: Any, problems: list[Problem]) -> StudyConfig | None:
    """One study's config (a built-in kind's, or a plugin's with the plugin's identity), or None with its problems added."""
    if not isinstance(item, dict):
        problems.append(where.problem(loc, f"expected a mapping with a 'kind'; found {short(item)}"))
        return None
    kind = item.get("kind")
    if kind is None:
        problems.append(where.problem(loc, f"required field 'kind' is missing (expected one of: {', '.join(kinds)})"))
        return None
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
            return None
        else:
            extra = {"plugin": kind, "plugin_identity": plugin.identity}
            return _validate(where, loc, plugin.kind.config, {**item, "kind": plugin.kind.name}, problems, extra)
    if not isinstance(kind, str) or kind not in kinds:
        known = [*kinds, *plugins_installed()]
        hint = did_you_mean(kind, known) if isinstance(kind, str) else ""
        problems.append(where.problem(loc + ("kind",), f"unknown study kind {short(kind)}{hint} (expected one of: {', '.join(known)}, or an import path 'package.module:attribute')"))
        return None
    return _validate(where, loc, kinds[kind].config, item, problems)


def _validate(where: Located, loc: Loc, config_cls: Any, item: dict[str, Any], problems: list[Problem], extra: dict[str, Any] | None = None) -> StudyConfig | None:
    try:
        config = config_cls.model_validate(item)
    except ValidationError as exc:
        problems += pydantic_problems(where, exc, config_cls, loc)
        return None
    return config.model_copy(update=extra) if extra else config


def _name_problems(where: Located, studies: list[tuple[int, StudyConfig]]) -> list[Problem]:
    """Two studies with one name, or a name that is another study's default label (both would be one store path)."""
    problems: list[Problem] = []
    names = [s.name for _, s in studies if s.name]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(where.problem(("studies",), f"two studies are named {dup!r}; names must be unique"))
    labels = study_labels([s for _, s in studies])
    defaults = {label: i for (i, s), label in zip(studies, labels) if not s.name}
    kinds_at = {i: s.kind for i, s in studies}
    for i, s in studies:
        if s.name and s.name in defaults:
            j = defaults[s.name]
            problems.append(where.problem(("studies", i, "name"), f"name {s.name!r} is also the default label of studies[{j}] (kind {kinds_at[j]}, no name); "
                                          "names must differ from every study's name and default label: rename one"))
    return problems


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


def study_checks(study: StudyConfig, info: SpecInfo, kinds: Any) -> list[tuple[Sequence[str | int], str]]:
    """A study's semantic checks: its kind's ``check``; a plugin's, with a failure inside it named as the plugin's."""
    from redundancy.studies.plugins import plugin_of

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
