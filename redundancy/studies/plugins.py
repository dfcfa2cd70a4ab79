"""Study kinds from outside the project: installed entry points and import paths in a spec.

A spec names a plugin kind either by the name of an installed entry point of
group ``redundancy.studies`` (declared in the plugin package's
``pyproject.toml``) or by an import path, ``kind: "mypkg.studies:entry"``. The
object it names is StudyKind-like: a :class:`~redundancy.studies.base.StudyKind`
or any object with ``name`` (a short name: letters, digits, ``_``), ``config``
(a :class:`~redundancy.spec.schema.StudyConfig` subclass), ``run(config, ctx)``
and optionally ``check(config, info)``, ``results`` (a
:class:`~redundancy.store.results.KindSchema`, so its stages carry typed
results) and ``description``.

The loader writes the name as the spec gave it and the plugin's identity into
the study's config (``plugin`` and ``plugin_identity``), so both are in the
stored config and in the stage identity; built-in kinds leave them empty and
their identities do not change. The identity is the distribution name and
version that installed the module (``mypkg 1.2.0``), or for a module no
distribution installed, the SHA-256 of its source file, as for model and
dataset plugins (:mod:`redundancy.plugins`, whose error class and identity this
module shares). The stage id starts
with the plugin's short ``name``, as a built-in's starts with its kind.

Resolving a plugin imports it, so it happens only where a spec is validated or
run. Readers never call this module: a kind named in store text is data.
Every call into a plugin goes through :func:`call`, which turns any exception
into one :class:`PluginError` naming the plugin, reported as that stage's failure.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from redundancy import plugins as _plugins
from redundancy.plugins import PluginError, is_import_path, module_identity

if TYPE_CHECKING:
    from redundancy.studies.base import StudyKind

GROUP = "redundancy.studies"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class StudyPlugin:
    """A resolved plugin kind: the name the spec wrote, the kind, and the plugin's identity."""

    spec_name: str  # an entry point name or ``module:attribute``
    kind: StudyKind
    identity: str  # ``dist version`` or ``module sha256:hex``

    def describe(self) -> str:
        return f"study plugin {self.spec_name!r} ({self.identity})"


def entry_point_names() -> list[str]:
    """Names of the installed study entry points (nothing is imported)."""
    return _plugins.entry_point_names(GROUP)


def _import(target: str, name: str) -> tuple[Any, Any]:
    return _plugins.import_target(target, "study kind", name)


def as_kind(obj: Any, name: str) -> StudyKind:
    """A :class:`StudyKind` from a StudyKind-like object, or :class:`PluginError` saying what it lacks."""
    from redundancy.spec.schema import StudyConfig
    from redundancy.studies import BUILTIN
    from redundancy.studies.base import StudyKind

    config = getattr(obj, "config", None)
    if not (isinstance(config, type) and issubclass(config, StudyConfig)):
        raise PluginError(f"study kind {name!r}: its 'config' must be a subclass of redundancy.spec.schema.StudyConfig")
    run = getattr(obj, "run", None)
    if not callable(run):
        raise PluginError(f"study kind {name!r}: it has no callable 'run(config, ctx)'")
    check = getattr(obj, "check", None)
    if check is not None and not callable(check):
        raise PluginError(f"study kind {name!r}: its 'check' is not callable")
    short = getattr(obj, "name", None)
    if not isinstance(short, str) or not NAME.match(short):
        raise PluginError(f"study kind {name!r}: its 'name' must be 1-40 lowercase letters, digits or _, starting with a letter; found {short!r}")
    if short in BUILTIN:
        raise PluginError(f"study kind {name!r}: its name {short!r} is a built-in kind's; choose another")
    results = getattr(obj, "results", None)
    from redundancy.store.results import KindSchema

    if results is not None and not isinstance(results, KindSchema):
        raise PluginError(f"study kind {name!r}: its 'results' must be a redundancy.store.results.KindSchema; found {type(results).__name__}")
    return StudyKind(short, config, run, check, str(getattr(obj, "description", "") or ""), results)


@lru_cache(maxsize=None)
def resolve(name: str) -> StudyPlugin:
    """The plugin a spec names: :class:`KeyError` when ``name`` is neither an installed entry point
    nor an import path, :class:`PluginError` when it is one but cannot be loaded."""
    if is_import_path(name):
        module, obj = _import(name, name)
        return StudyPlugin(name, as_kind(obj, name), module_identity(name.partition(":")[0], module))
    try:
        eps = [ep for ep in metadata.entry_points(group=GROUP) if ep.name == name]
    except Exception as exc:
        raise PluginError(f"cannot list the installed study plugins: {exc}") from None
    if not eps:
        raise KeyError(name)
    ep = eps[0]
    module, obj = _import(ep.value, name)
    dist = getattr(ep, "dist", None)
    identity = f"{dist.name} {dist.version}" if dist is not None and getattr(dist, "name", None) else module_identity(ep.module, module)
    return StudyPlugin(name, as_kind(obj, name), identity)


_plugins._CACHES.append(resolve.cache_clear)  # a module found beside a spec replaces what a name resolved to


def forget() -> None:
    """Drop resolved plugins (after installing or editing one in the same process, as tests do)."""
    resolve.cache_clear()
    _plugins.forget()


def call(plugin: StudyPlugin, what: str, function: Any, *args: Any) -> Any:
    """Call ``function`` of ``plugin`` with any exception inside it reported as one :class:`PluginError` naming it."""
    try:
        return function(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: see redundancy.plugins
        raise PluginError(f"{plugin.describe()} failed in {what}: {_plugins.failure_text(exc)}{_plugins.raised_at(exc)}") from None


def plugin_of(config: Any) -> StudyPlugin | None:
    """The :class:`StudyPlugin` a study config was resolved to, or None for a built-in."""
    name = getattr(config, "plugin", None)
    return resolve(name) if name else None


def kind_of(config: Any) -> StudyKind:
    """The kind that runs ``config``: the plugin the loader resolved, else the registered kind."""
    from redundancy.studies import STUDIES

    plugin = plugin_of(config)
    return plugin.kind if plugin is not None else STUDIES[config.kind]


__all__ = ["GROUP", "PluginError", "StudyPlugin", "as_kind", "call", "entry_point_names", "forget", "is_import_path", "kind_of",
           "module_identity", "plugin_of", "resolve"]
