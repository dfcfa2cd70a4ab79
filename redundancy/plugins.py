"""Models and datasets from outside the project: entry points and import paths.

A spec names a model or dataset either by a built-in name (``lenet_300_100``,
``mnist-5k``), by the name of an installed entry point (groups
``redundancy.models`` and ``redundancy.datasets``, declared in the plugin
package's ``pyproject.toml``), or by an import path ``package.module:attribute``.
Built-in names win over entry points; a name with a colon is always an import
path. Resolving a plugin imports its module, so it happens only where a spec is
validated or run, never where a store is read: readers take model and dataset
names from store text as plain strings.

A plugin's identity is what makes two runs with the same spec text different
computations: the distribution name and version that installed the module
(``mypkg 1.2.0``), or, for a module no distribution installed, the SHA-256 of the
module's source file (``mypkg.nets sha256:…``). The loader writes it into the
run's config (``model.plugin`` / ``data.plugin``), so it is in the stage
identity and in the stored config; built-ins leave the field empty and their
identities do not change.

An import path's module is looked up first beside the spec that names it: a file
``mymod.py`` or a package folder ``mymod/`` in the spec's folder is loaded from
that location (:func:`look_beside`), under a private module name, without
putting the folder on ``sys.path``, so a ``yaml.py`` next to a spec serves only
the spec that names it and never shadows PyYAML. Otherwise the module is
imported from ``sys.path``. Worker processes receive the locations found
(:func:`beside`, :func:`restore`) and load the same files.

Every call into plugin code goes through :func:`call`, which turns any exception
into a :class:`PluginError` naming the plugin: a stage that fails in a plugin
fails as that stage, with one line. "Any exception" includes :class:`SystemExit`:
a training script named as a model calls ``sys.exit`` on import, and that must
not end ``validate`` or ``run`` with the script's exit status and no word. Only a
real Ctrl-C (:class:`KeyboardInterrupt`) passes through.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as metadata
import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from redundancy.errors import RedundancyError

MODEL_GROUP = "redundancy.models"
DATASET_GROUP = "redundancy.datasets"


class PluginError(RedundancyError):
    """A plugin that cannot be found, imported or called, or that failed or returned the wrong thing."""


#: Top-level module name -> its file (``name.py``) or package ``__init__.py`` beside a spec that names it.
_BESIDE: dict[str, Path] = {}
#: The spec folders looked in, most recent last (for the message when a module is nowhere).
_LOOKED: list[Path] = []
#: Caches of resolved plugins elsewhere (study kinds), cleared when a location changes.
_CACHES: list[Callable[[], None]] = []
#: Prefix of the private names modules beside a spec are loaded under.
_PRIVATE = "_redundancy_beside_"


def _top(name: str) -> str:
    return name.partition(":")[0].split(".")[0]


def look_beside(folder: str | Path, names: Iterable[object]) -> None:
    """Record the modules of the import paths in ``names`` that are files or packages in ``folder``."""
    folder = Path(folder).resolve()
    if folder not in _LOOKED:
        _LOOKED.append(folder)
    for name in names:
        if not isinstance(name, str) or not is_import_path(name) or not _top(name).isidentifier():
            continue
        top = _top(name)
        for candidate in (folder / f"{top}.py", folder / top / "__init__.py"):
            if candidate.is_file():
                _locate(top, candidate)
                break


def _locate(top: str, path: Path) -> None:
    if _BESIDE.get(top) != path:
        _BESIDE[top] = path
        _resolve.cache_clear()
        for clear in _CACHES:
            clear()


def beside() -> dict[str, str]:
    """The modules found beside specs in this process, for worker processes (:func:`restore`)."""
    return {top: str(path) for top, path in _BESIDE.items()}


def restore(found: Mapping[str, str]) -> None:
    """Use the modules another process found beside its specs (``found`` from :func:`beside`)."""
    for top, path in found.items():
        _locate(top, Path(path))


def _private_name(path: Path) -> str:
    return f"{_PRIVATE}{hashlib.sha256(str(path).encode()).hexdigest()[:12]}_{path.parent.name if path.name == '__init__.py' else path.stem}"


def _import_module(module_name: str) -> Any:
    """``module_name`` from beside a spec when it was found there, else from ``sys.path``."""
    top, _, rest = module_name.partition(".")
    path = _BESIDE.get(top)
    if path is None:
        return importlib.import_module(module_name)
    private = _private_name(path)
    if private not in sys.modules:
        package = [str(path.parent)] if path.name == "__init__.py" else None
        spec = importlib.util.spec_from_file_location(private, path, submodule_search_locations=package)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module  # before running it, as import does: its classes pickle by this name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[private]
            raise
    return importlib.import_module(f"{private}.{rest}" if rest else private)


def _nowhere(module_name: str) -> str:
    top = _top(module_name)
    if top in _BESIDE:
        return f"loaded from {_BESIDE[top]}"
    if not _LOOKED:
        return "looked on sys.path"
    folders = ", ".join(str(f) for f in _LOOKED[-2:])
    return f"looked for {top}.py or {top}/ beside the spec (in {folders}), then on sys.path"


@dataclass(frozen=True)
class Plugin:
    """A resolved plugin: what the spec named, the callable, and its identity."""

    name: str  # as written in the spec: an entry point name or ``module:attribute``
    target: str  # ``module:attribute``
    function: Callable[..., Any]
    identity: str  # ``dist version`` or ``module sha256:hex``

    def describe(self, what: str) -> str:
        return f"{what} plugin {self.name!r} ({self.identity})"


def is_import_path(name: str) -> bool:
    return ":" in name


def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def entry_point_names(group: str) -> list[str]:
    """Names of the installed entry points of ``group`` (nothing is imported)."""
    try:
        return sorted(_entry_points(group))
    except Exception:  # a broken distribution's metadata must not break listing names
        return []


def _source_sha256(module: Any) -> str | None:
    file = getattr(module, "__file__", None)
    if not file:
        return None
    try:
        return hashlib.sha256(Path(file).read_bytes()).hexdigest()
    except OSError:
        return None


def _distribution_of(module_name: str) -> tuple[str, str] | None:
    """(distribution, version) that installed the top-level package of ``module_name``, if any."""
    top = module_name.split(".")[0]
    try:
        dists = metadata.packages_distributions().get(top, [])
    except Exception:
        return None
    for dist in dists:
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def module_identity(module_name: str, module: Any) -> str:
    """``dist version`` of the distribution that installed ``module``, else ``module sha256:hex`` of its source."""
    from_spec_folder = getattr(module, "__name__", "").startswith(_PRIVATE)  # a file beside a spec: no distribution's
    dist = None if from_spec_folder else _distribution_of(module_name)
    if dist is not None:
        return f"{dist[0]} {dist[1]}"
    digest = _source_sha256(module)
    if digest is None:
        raise PluginError(f"module {module_name!r} has no source file to identify it by; install it as a distribution")
    return f"{module_name} sha256:{digest}"


def import_target(target: str, what: str, name: str) -> tuple[Any, Any]:
    """The module and the object an import path ``package.module:attribute`` names; one-line errors."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{what} {name!r}: an import path is 'package.module:attribute'")
    try:
        module = _import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: a module that exits on import is a broken plugin, not our exit
        raise PluginError(
            f"{what} {name!r}: cannot import module {module_name!r} ({_nowhere(module_name)}): {failure_text(exc)}{raised_at(exc)}"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{what} {name!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return module, obj


def _import(target: str, what: str, name: str) -> tuple[Any, Callable[..., Any]]:
    module, obj = import_target(target, what, name)
    if not callable(obj):
        raise PluginError(f"{what} {name!r}: {target} is a {type(obj).__name__}, not a callable")
    return module, obj


@lru_cache(maxsize=None)
def _resolve(group: str, name: str) -> Plugin:
    what = "model" if group == MODEL_GROUP else "dataset"
    if is_import_path(name):
        module, function = _import(name, what, name)
        return Plugin(name, name, function, module_identity(name.partition(":")[0], module))
    try:
        ep = _entry_points(group).get(name)
    except Exception as exc:
        raise PluginError(f"cannot list the installed {what} plugins: {exc}") from None
    if ep is None:
        raise KeyError(name)
    module, function = _import(ep.value, what, name)
    dist = getattr(ep, "dist", None)
    if dist is not None and getattr(dist, "name", None):
        identity = f"{dist.name} {dist.version}"
    else:
        identity = module_identity(ep.value.partition(":")[0], module)
    return Plugin(name, ep.value, function, identity)


def resolve(group: str, name: str) -> Plugin:
    """The plugin ``name`` of ``group``; :class:`KeyError` when it is neither an entry point nor an import path,
    :class:`PluginError` when it is one but cannot be imported or is not callable."""
    return _resolve(group, name)


def forget() -> None:
    """Drop resolved plugins (after installing or editing one in the same process, as tests do)."""
    _resolve.cache_clear()
    _BESIDE.clear()
    _LOOKED.clear()
    for name in [m for m in sys.modules if m.startswith(_PRIVATE)]:
        del sys.modules[name]
    importlib.invalidate_caches()
    metadata_cache = getattr(metadata, "_cache_clear", None)  # not public; present in some versions
    if callable(metadata_cache):
        metadata_cache()


def call(plugin: Plugin, what: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``plugin`` with any exception inside it reported as one :class:`PluginError` naming it."""
    try:
        return plugin.function(*args, **kwargs)
    except RedundancyError as exc:
        raise PluginError(f"{plugin.describe(what)} failed: {exc}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise PluginError(f"{plugin.describe(what)} failed: {failure_text(exc)}{raised_at(exc)}") from None


def failure_text(exc: BaseException) -> str:
    """What went wrong in plugin code, in one line: the exception's type and first line, or the
    ``sys.exit`` call a script made."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) (a script rather than a module of functions?)"
    if isinstance(exc, RedundancyError):
        return str(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def raised_at(exc: BaseException) -> str:
    """`` (at file.py:line)`` of the innermost frame ``exc`` was raised in, for a one-line message; "" if unknown."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f" (at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno})" if tb is not None else ""


def options_model(plugin: Plugin) -> type | None:
    """The pydantic class a plugin declares for its ``options`` (attribute ``options``), if any."""
    from pydantic import BaseModel

    declared = getattr(plugin.function, "options", None)
    return declared if isinstance(declared, type) and issubclass(declared, BaseModel) else None


__all__ = [
    "DATASET_GROUP",
    "MODEL_GROUP",
    "Plugin",
    "PluginError",
    "beside",
    "call",
    "entry_point_names",
    "failure_text",
    "forget",
    "is_import_path",
    "look_beside",
    "module_identity",
    "options_model",
    "resolve",
    "restore",
]
