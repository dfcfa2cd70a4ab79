"""Registry of study kinds: one line per kind, naming its modules by string.

A study kind is a package under ``redundancy/studies/<kind>/``: its config, its
pure math, its compute (``study.py``, a :class:`~redundancy.studies.base.StudyKind`)
and its typed result schema (``results.py``, a
:class:`~redundancy.store.results.KindSchema`), named by the :class:`Entry` its
``__init__.py`` declares with its flags. :data:`BUILTIN` below names each
package in one line, and an entry names modules as ``"module:attribute"``
strings, so importing this registry imports nothing of a kind's code: the readers (``show``, the TUI, the report) load a kind's
``results`` module, which needs neither torch nor numpy, and only a run loads
its compute.

A kind from outside the project is a plugin (:mod:`redundancy.studies.plugins`):
an installed entry point of group ``redundancy.studies`` or an import path
written in a spec (``kind: "mypkg.studies:entry"``). Plugins are resolved where a
spec is validated or run, never from store text.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from redundancy.registry import Registry, load_target
from redundancy.store.results import set_schema_source
from redundancy.studies.entry import Entry

if TYPE_CHECKING:
    from redundancy.store.results import KindSchema
    from redundancy.studies.base import StudyKind

#: Substrings that mark any kind's summary number as a headline of a grid table.
HEADLINE_ANY: tuple[str, ...] = ("auc", "area_under", "k_within_1", "distance", "p_value")


class _Entries(Mapping[str, Entry]):
    """Name -> :class:`Entry`, reading a built-in kind's package (``ENTRY``) the first time it is asked for.

    Iterating lists names without importing anything.
    """

    def __init__(self, packages: dict[str, str]):
        self._packages = packages
        self._entries: dict[str, Entry] = {}

    def __getitem__(self, name: str) -> Entry:
        if name not in self._entries:
            entry = importlib.import_module(self._packages[name]).ENTRY  # KeyError for an unknown kind
            if entry.name != name:
                raise ValueError(f"study kind package {self._packages[name]} declares {entry.name!r}, registered as {name!r}")
            self._entries[name] = entry
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._packages)

    def __len__(self) -> int:
        return len(self._packages)

    def __contains__(self, name: object) -> bool:
        return name in self._packages


#: The built-in kinds, in the order ``validate`` lists them: each is a package declaring its
#: :class:`Entry`. A new kind is its package and one line here.
BUILTIN: _Entries = _Entries({
    "subspace": "redundancy.studies.subspace",
    "lottery": "redundancy.studies.lottery",
    "dynamics": "redundancy.studies.dynamics",
    "pruning": "redundancy.studies.pruning",
    "unit_ticket": "redundancy.studies.unit_ticket",
    "correspondence": "redundancy.studies.correspondence",
})


#: Name -> :class:`StudyKind`: a built-in's compute is loaded the first time it is asked for;
#: iterating lists names without importing anything. Tests and plugins may add kinds
#: (``STUDIES[name] = kind``) and remove them again; a built-in's name is refused.
STUDIES: Registry[StudyKind] = Registry("study kind", BUILTIN, load=lambda entry: load_target(entry.compute),
                                        import_hint="package.module:attribute")


def get(name: str) -> StudyKind:
    try:
        return STUDIES[name]
    except KeyError:
        raise KeyError(f"unknown study kind {name!r}; expected one of {', '.join(STUDIES)}") from None


def register(kind: StudyKind) -> StudyKind:
    """Add a kind defined in code (tests, notebooks) under its name."""
    STUDIES[kind.name] = kind
    return kind


def result_schema(kind: str) -> KindSchema | None:
    """The typed result schema of a built-in kind (plain Python, no torch), else None.

    Only built-in kinds: a kind named in store text is data, and readers never
    import code because a store names it.
    """
    entry = BUILTIN.get(kind)
    if entry is None or entry.results is None:
        return None
    return load_target(entry.results)


set_schema_source(result_schema)  # the store decodes built-in kinds' records through their schemas


def headline_tokens(kind: str) -> tuple[str, ...]:
    """Substrings marking a summary path as a headline number of ``kind`` in a grid table."""
    entry = BUILTIN.get(kind)
    return (entry.headline if entry is not None else ()) + HEADLINE_ANY


_BASE = ("RunArtifacts", "StudyContext", "StudyKind", "StudyResult")


def __getattr__(name: str) -> Any:
    # The compute-side types import torch: loaded when first asked for, never by a reader.
    if name in _BASE:
        from redundancy.studies import base

        return getattr(base, name)
    raise AttributeError(f"module 'redundancy.studies' has no attribute {name!r}")


__all__ = [
    "BUILTIN",
    "HEADLINE_ANY",
    "STUDIES",
    "Entry",
    "RunArtifacts",
    "StudyContext",
    "StudyKind",
    "StudyResult",
    "get",
    "headline_tokens",
    "register",
    "result_schema",
]
