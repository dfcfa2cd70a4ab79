"""Reading stores for the TUI: listings from attributes, tensors only on demand.

This layer is plain h5py and returns plain data, never Textual objects, for two
reasons. The app runs it in worker threads so that a store with a thousand stage
files, or a run writing to the store, never freezes the screen. And every file a
user can point the app at (truncated, empty, not HDF5, wrongly laid out, held
open by a writer) must become a readable reason instead of an exception, which is
easiest to guarantee, and to test, without a terminal.

Listing a store opens ``index.h5`` once for the plan, then each stage file only
to check that it opens; stages the plan does not name have their few label
attributes read. No dataset is read until a dataset or a run's curves are asked
for.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.store import INDEX, STAGES, Store, open_h5, read_attrs

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Largest number of elements read for a preview; larger datasets are read strided.
PREVIEW_ELEMENTS = 1 << 20


class SourceError(Exception):
    """A file that cannot be shown, with the reason in words a user can act on."""


def describe_h5_error(path: Path, exc: BaseException) -> str:
    """Turn h5py's error for ``path`` into a short reason (empty, truncated, locked ...)."""
    message = str(exc)
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if isinstance(exc, FileNotFoundError) or (size is None and not path.exists()):
        return "file disappeared (removed or replaced while reading)"
    if isinstance(exc, PermissionError) or "Permission denied" in message:
        return "permission denied"
    if size == 0:
        return "empty file (0 bytes)"
    if isinstance(exc, BlockingIOError) or "unable to lock file" in message:
        return "locked by another process"
    if "already open for write" in message:
        return "locked: another process has it open for writing"
    if "truncated file" in message:
        found = re.search(r"eof = (\d+).*stored_eof = (\d+)", message)
        if found:
            return f"truncated HDF5 file ({found.group(1)} of {found.group(2)} bytes)"
        return "truncated HDF5 file"
    if "file signature not found" in message:
        return "not an HDF5 file (no HDF5 signature)"
    return f"unreadable HDF5 file: {message}"


def open_checked(path: Path) -> h5py.File:
    """Open read-only without a lock, raising :class:`SourceError` with a readable reason."""
    try:
        return open_h5(path)
    except (OSError, ValueError, RuntimeError) as exc:
        raise SourceError(describe_h5_error(path, exc)) from None


# --- listings -----------------------------------------------------------------------------------


@dataclass
class StageEntry:
    """One stage of a store as the tree shows it: done, pending, failed or unreadable."""

    id: str
    stage_kind: str  # "train" or "study"
    run: str
    name: str
    study_kind: str = ""
    status: str = "done"  # done | pending | failed | error
    path: Path | None = None
    error: str = ""
    mtime_ns: int = 0

    @property
    def kind_label(self) -> str:
        return self.study_kind if self.stage_kind == "study" else "train"


@dataclass
class RunGroup:
    """A run label with its train stage (if known) and the studies made on it."""

    label: str
    train: StageEntry | None = None
    studies: list[StageEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """A file of a store that is not a readable stage, and why."""

    path: Path
    reason: str


@dataclass
class Listing:
    """Everything the tree shows for one store, read from attributes only."""

    root: Path
    name: str
    spec_name: str = ""
    runs: list[RunGroup] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fingerprint: tuple[Any, ...] = ()

    @property
    def store(self) -> Store:
        return Store(self.root)

    def entries(self) -> Iterable[StageEntry]:
        for group in self.runs:
            if group.train is not None:
                yield group.train
            yield from group.studies

    def entry(self, stage_id: str) -> StageEntry | None:
        return next((e for e in self.entries() if e.id == stage_id), None)

    def group(self, label: str) -> RunGroup | None:
        return next((g for g in self.runs if g.label == label), None)

    def counts(self) -> dict[str, int]:
        out = {"runs": 0, "studies": 0, "pending": 0, "failed": 0, "errors": len(self.problems)}
        for e in self.entries():
            if e.status == "done":
                out["runs" if e.stage_kind == "train" else "studies"] += 1
            elif e.status == "error":
                out["errors"] += 1
            else:
                out[e.status] = out.get(e.status, 0) + 1
        return out


def fingerprint(root: Path) -> tuple[Any, ...]:
    """Cheap change detector for polling: names, sizes and mtimes, from ``stat`` alone."""
    items: list[Any] = []
    for path in (root / INDEX,):
        try:
            st = path.stat()
            items.append((path.name, st.st_size, st.st_mtime_ns))
        except OSError:
            items.append((path.name, None, None))
    try:
        with os.scandir(root / STAGES) as it:
            for e in it:
                if e.name.endswith(".h5") and not e.name.startswith("."):
                    try:
                        st = e.stat()
                        items.append((e.name, st.st_size, st.st_mtime_ns))
                    except OSError:
                        continue
    except OSError:
        pass
    return tuple(sorted(items, key=lambda t: t[0]))


def _json_list(attrs: dict[str, Any], key: str, problems: list[Problem], path: Path) -> list[Any]:
    raw = attrs.get(key)
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        problems.append(Problem(path, f"attribute {key!r} is not valid JSON ({exc})"))
        return []
    if not isinstance(value, list):
        problems.append(Problem(path, f"attribute {key!r} should be a JSON list"))
        return []
    return value


def _label_attrs(path: Path) -> dict[str, Any]:
    """The few attributes that place an unplanned stage in the tree."""
    with open_checked(path) as f:
        out = {}
        for key in ("stage_kind", "run", "study", "study_kind", "stage_id"):
            if key in f.attrs:
                value = f.attrs[key]
                out[key] = value.decode() if isinstance(value, bytes) else value
        return out


def list_store(root: Path | str) -> Listing:
    """List a store's runs and studies; unreadable files become :class:`Problem` entries."""
    root = Path(root)
    listing = Listing(root=root, name=root.name, fingerprint=fingerprint(root))
    problems = listing.problems
    plan: list[Any] = []
    failures: dict[str, str] = {}
    index = root / INDEX
    if index.exists():
        try:
            with open_checked(index) as f:
                attrs = {k: f.attrs[k] for k in ("spec_name", "plan", "failures") if k in f.attrs}
            attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
            listing.spec_name = str(attrs.get("spec_name", ""))
            plan = _json_list(attrs, "plan", problems, index)
            for row in _json_list(attrs, "failures", problems, index):
                if isinstance(row, dict) and "stage_id" in row:
                    failures[str(row["stage_id"])] = str(row.get("error", "failed"))
        except SourceError as exc:
            problems.append(Problem(index, str(exc)))

    files: dict[str, os.DirEntry[str]] = {}
    try:
        with os.scandir(root / STAGES) as it:
            for e in it:
                if e.name.endswith(".h5") and not e.name.startswith("."):
                    files[e.name[: -len(".h5")]] = e
    except FileNotFoundError:
        pass
    except OSError as exc:
        problems.append(Problem(root / STAGES, f"cannot list folder ({exc.strerror})"))

    groups: dict[str, RunGroup] = {}

    def group(label: str) -> RunGroup:
        if label not in groups:
            groups[label] = RunGroup(label)
        return groups[label]

    def place(entry: StageEntry) -> None:
        g = group(entry.run)
        if entry.stage_kind == "train" and g.train is None:
            g.train = entry
        else:
            g.studies.append(entry)

    def stat_ns(e: os.DirEntry[str]) -> int:
        try:
            return e.stat().st_mtime_ns
        except OSError:
            return 0

    planned: set[str] = set()
    for row in plan:
        if not isinstance(row, dict) or not {"id", "kind", "run", "name"} <= set(row):
            problems.append(Problem(index, f"plan entry without id, kind, run and name: {row!r}"))
            continue
        sid = str(row["id"])
        planned.add(sid)
        is_train = row["kind"] == "train"
        entry = StageEntry(
            id=sid,
            stage_kind="train" if is_train else "study",
            run=str(row["run"]),
            name=str(row["name"]),
            study_kind="" if is_train else str(row["kind"]),
        )
        if sid in files:
            entry.path = Path(files[sid].path)
            entry.mtime_ns = stat_ns(files[sid])
            try:
                open_checked(entry.path).close()
            except SourceError as exc:
                entry.status, entry.error = "error", str(exc)
        elif sid in failures:
            entry.status, entry.error = "failed", failures[sid]
        else:
            entry.status = "pending"
        place(entry)

    for sid in sorted(set(files) - planned):
        path = Path(files[sid].path)
        try:
            attrs = _label_attrs(path)
        except SourceError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        kind = attrs.get("stage_kind")
        if kind not in ("train", "study"):
            problems.append(Problem(path, "not a stage file: no 'stage_kind' attribute of 'train' or 'study'"))
            continue
        if kind == "study" and not attrs.get("study_kind"):
            problems.append(Problem(path, "study stage without a 'study_kind' attribute"))
            continue
        run = str(attrs.get("run", "?"))
        place(
            StageEntry(
                id=sid,
                stage_kind=kind,
                run=run,
                name=str(attrs.get("study") or attrs.get("study_kind") or run) if kind == "study" else run,
                study_kind=str(attrs.get("study_kind", "")),
                path=path,
                mtime_ns=stat_ns(files[sid]),
            )
        )
    listing.runs = list(groups.values())
    return listing


# --- sources: what the command line names ---------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One root of the tree: a store folder, a lone HDF5 file, or a path that is neither."""

    path: Path
    kind: str  # "store" | "file" | "problem"
    reason: str = ""


def is_store(path: Path) -> bool:
    return Store(path).exists()


def discover(paths: Iterable[Path]) -> list[Source]:
    """Stores named directly or one level below the given folders, HDF5 files, and problems."""
    out: list[Source] = []
    for path in paths:
        if path.is_dir():
            if is_store(path):
                out.append(Source(path, "store"))
                continue
            try:
                children = sorted(p for p in path.iterdir() if p.is_dir() and is_store(p))
            except OSError as exc:
                out.append(Source(path, "problem", f"cannot list folder ({exc.strerror})"))
                continue
            if children:
                out.extend(Source(p, "store") for p in children)
            else:
                out.append(Source(path, "problem", "no store here (no index.h5 or stages/ in it or its subfolders)"))
        elif path.is_file():
            if path.name == INDEX and is_store(path.parent):
                out.append(Source(path.parent, "store"))
            else:
                out.append(Source(path, "file"))
        else:
            out.append(Source(path, "problem", "no such file or folder"))
    return out


# --- attributes and datasets, on demand ----------------------------------------------------------


def stage_attrs(path: Path) -> dict[str, Any]:
    """Every attribute of a stage file (small: JSON text and scalars)."""
    with open_checked(path) as f:
        return read_attrs(f)


def json_attr(attrs: dict[str, Any], key: str, default: Any = None) -> Any:
    """A JSON text attribute, raising :class:`SourceError` when it does not parse."""
    raw = attrs.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise SourceError(f"attribute {key!r} is not valid JSON ({exc})") from None


@dataclass(frozen=True)
class H5Child:
    """A member of an HDF5 group: a subgroup or a dataset with its shape and dtype (no data)."""

    name: str
    path: str
    is_group: bool
    shape: tuple[int, ...] = ()
    dtype: str = ""
    members: int = 0


def list_group(path: Path, group: str = "/") -> list[H5Child]:
    """The members of ``group``: metadata only, no dataset values are read."""
    out: list[H5Child] = []
    with open_checked(path) as f:
        try:
            base = f[group]
        except KeyError:
            raise SourceError(f"no group {group!r} in {path.name}") from None
        if not isinstance(base, h5py.Group):
            raise SourceError(f"{group!r} is not a group")
        for name in base:
            child_path = f"{base.name.rstrip('/')}/{name}"
            try:
                obj = base[name]
            except (KeyError, OSError) as exc:
                out.append(H5Child(name, child_path, False, dtype=f"unreadable link ({exc})"))
                continue
            if isinstance(obj, h5py.Group):
                out.append(H5Child(name, child_path, True, members=len(obj)))
            elif isinstance(obj, h5py.Dataset):
                out.append(H5Child(name, child_path, False, tuple(obj.shape), str(obj.dtype)))
    return out


@dataclass
class DatasetData:
    """A dataset's metadata and (a possibly strided sample of) its values."""

    path: Path
    name: str
    shape: tuple[int, ...]
    dtype: str
    attrs: dict[str, Any]
    values: np.ndarray
    strided: tuple[int, ...] = ()  # step per axis when only a sample was read
    compression: str = ""
    chunks: tuple[int, ...] | None = None


def read_dataset(path: Path, name: str, limit: int = PREVIEW_ELEMENTS) -> DatasetData:
    """Read a dataset for preview: whole when small, every k-th element per axis when large."""
    with open_checked(path) as f:
        obj = f.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise SourceError(f"{name!r} is not a dataset in {path.name}")
        shape = tuple(obj.shape)
        size = int(np.prod(shape)) if shape else 1
        steps: tuple[int, ...] = ()
        try:
            if size > limit and shape:
                per_axis = (size / limit) ** (1 / len(shape))
                steps = tuple(max(1, int(np.ceil(per_axis))) for _ in shape)
                values = obj[tuple(slice(None, None, s) for s in steps)]
            else:
                values = obj[()]
        except (OSError, ValueError, TypeError) as exc:
            raise SourceError(f"cannot read {name!r}: {exc}") from None
        return DatasetData(
            path=path,
            name=obj.name,
            shape=shape,
            dtype=str(obj.dtype),
            attrs=read_attrs(obj),
            values=np.asarray(values),
            strided=steps,
            compression=str(obj.compression or ""),
            chunks=obj.chunks,
        )


def read_metrics(path: Path) -> dict[str, np.ndarray]:
    """A train stage's ``/metrics/*`` series (small 1-D datasets), for the training curves."""
    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        group = f.get("metrics")
        if not isinstance(group, h5py.Group):
            raise SourceError("train stage without a /metrics group")
        for name, obj in group.items():
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
                out[name] = np.asarray(obj[()])
    return out


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a.b.c -> value`` (lists kept whole): spec fields for compare and search."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    else:
        out[prefix] = value
    return out
