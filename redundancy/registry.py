"""One shape for every "name -> thing" table: datasets, models, executors, study kinds.

A :class:`Registry` holds the built-ins (given as values, or as anything a ``load``
function turns into the value the first time a name is asked for, such as a
``"module:attribute"`` string, so that listing names imports nothing), additions made at
run time (tests, notebooks: ``REGISTRY[name] = thing``), and, when it is given a
``plugin`` function, things from outside the project: installed entry points and import
paths, resolved only when :meth:`Registry.lookup` is asked for a name the table lacks.

The table itself (``name in registry``, iteration, ``registry[name]``) holds built-ins and
additions only; :meth:`Registry.names` adds the installed entry points' names (without
importing them), which is what an "expected one of" lists, and :meth:`Registry.unknown`
words the message for a name that is none of these, with a "did you mean".
:class:`Lookups` remembers each name's answer for one pass over a spec (a 100,000-point
grid asks for the same few names a million times).

This module imports nothing of the project but its errors: the plugin machinery above it
is handed in as functions, so every layer above may keep a registry.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

from redundancy.errors import RedundancyError

T = TypeVar("T")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the option closest to ``word``, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_target(target: str) -> Any:
    """The object a ``"module:attribute"`` string names (the attribute may be dotted)."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def is_import_path(name: str) -> bool:
    """A name with a colon is an import path ``package.module:attribute``, never a registered name."""
    return ":" in name


class Registry(MutableMapping[str, T], Generic[T]):
    """Name -> entry: built-ins first (in their order), then additions, then plugins on lookup.

    ``what`` names an entry in messages (``"dataset"``, ``"study kind"``); ``load`` turns a
    built-in's stored value into its entry the first time it is asked for (default: the
    value itself); ``plugin(name)`` resolves a name the table lacks (an entry point or an
    import path), raising :class:`KeyError` when it is neither; ``installed()`` lists the
    installed entry points' names without importing them; ``import_hint`` is the import
    path form shown in messages.
    """

    def __init__(
        self,
        what: str,
        builtins: Mapping[str, Any],
        *,
        load: Callable[[Any], T] | None = None,
        plugin: Callable[[str], T] | None = None,
        installed: Callable[[], Iterable[str]] | None = None,
        import_hint: str = "package.module:function",
    ):
        self.what = what
        self._builtins = builtins
        self._load = load
        self._plugin = plugin
        self._installed = installed
        self.import_hint = import_hint
        self._loaded: dict[str, T] = {}
        self._extra: dict[str, T] = {}

    # --- the table: built-ins and additions --------------------------------------------------

    def __getitem__(self, name: str) -> T:
        if name in self._extra:
            return self._extra[name]
        if name not in self._loaded:
            value = self._builtins[name]  # KeyError for a name that is not built in
            self._loaded[name] = self._load(value) if self._load is not None else value
        return self._loaded[name]

    def __setitem__(self, name: str, entry: T) -> None:
        if name in self._builtins:
            raise ValueError(f"{self.what} {name!r} is built in; a plugin needs another name")
        self._extra[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._extra[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._builtins
        yield from (n for n in self._extra if n not in self._builtins)

    def __len__(self) -> int:
        return len(set(self._builtins) | set(self._extra))

    def __contains__(self, name: object) -> bool:
        return name in self._builtins or name in self._extra

    def builtin(self, name: str) -> bool:
        """Whether ``name`` is one of the built-ins (not an addition, not a plugin)."""
        return name in self._builtins

    # --- lookup with plugins --------------------------------------------------------------------

    def lookup(self, name: str) -> T:
        """The entry ``name``: from the table, else a plugin; :class:`KeyError` when it is neither.

        A plugin that is found but cannot be imported raises whatever ``plugin`` raises
        (a :class:`~redundancy.plugins.PluginError`).
        """
        if name in self:
            return self[name]
        if self._plugin is None:
            raise KeyError(name)
        return self._plugin(name)

    def installed(self) -> list[str]:
        """Names of the installed entry points (nothing is imported)."""
        return list(self._installed()) if self._installed is not None else []

    def names(self) -> list[str]:
        """The table's names, then the installed entry points' that are not among them."""
        names = list(self)
        return [*names, *(n for n in self.installed() if n not in names)]

    def suggest(self, name: str) -> str:
        """``"; did you mean 'x'?"`` among :meth:`names`, or ``""`` (always for an import path)."""
        return "" if is_import_path(name) else did_you_mean(name, self.names())

    def unknown(self, name: str) -> str:
        """The message for a name that is not known: what was asked for, the closest name, every name."""
        return f"unknown {self.what} {name!r}{self.suggest(name)} (expected one of: {', '.join(self.names())}, or an import path {self.import_hint!r})"

    def lookups(self) -> Lookups[T]:
        """A view that answers each name once (for one pass over a spec)."""
        return Lookups(self)


class Lookups(Generic[T]):
    """A registry seen through its lookup, each name's answer remembered.

    ``name in lookups`` resolves plugins (importing their modules); iterating lists the
    built-in and entry-point names, which is what "expected one of" shows.
    """

    def __init__(self, registry: Registry[T]):
        self.registry = registry
        self.what = registry.what
        self._entries: dict[str, T] = {}
        self._problems: dict[str, str | None] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry.names())

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            self._entries[name] = self.registry.lookup(name)
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.problem(name) is None

    def problem(self, name: str) -> str | None:
        """Why ``name`` is not a usable entry (a plugin's import failure, or unknown), or None."""
        if name not in self._problems:
            self._problems[name] = self._problem(name)
        return self._problems[name]

    def _problem(self, name: str) -> str | None:
        if self.registry.builtin(name):
            return None
        try:
            self[name]
        except KeyError:
            return self.registry.unknown(name)
        except RedundancyError as exc:  # a plugin that cannot be imported: the error names it and why
            return str(exc)
        return None


__all__ = ["Lookups", "Registry", "did_you_mean", "is_import_path", "load_target"]
