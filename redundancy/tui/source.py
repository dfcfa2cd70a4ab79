"""The TUI's view of stores: listings as the tree shows them, built on the store's reader.

Every read goes through :mod:`redundancy.store.reader` (which validates stage
files, decodes attributes tolerantly and never follows links out of a store);
this module only arranges what it returns into runs with their studies, and
returns plain data, never Textual objects. The app runs it in worker threads so
that a store with a thousand stage files, or a run writing to the store, never
freezes the screen. Listing reads attributes only; no dataset is read until a
dataset or a run's curves are asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redundancy.store import Store
from redundancy.store import layout as L
from redundancy.store.reader import (
    DatasetData,
    H5Child,
    ReadError,
    Source,
    StageRecord,
    describe_h5_error,
    discover,
    file_attrs,
    is_store,
    list_group,
    open_checked,
    parse_json,
    read_dataset,
    read_metrics,
    read_store,
)

SourceError = ReadError

__all__ = [
    "DatasetData", "H5Child", "Listing", "Problem", "RunGroup", "Source", "SourceError", "StageEntry",
    "describe_h5_error", "discover", "file_attrs", "fingerprint", "flatten", "is_store", "json_attr",
    "list_group", "list_store", "open_checked", "read_dataset", "read_metrics",
]


# --- listings -----------------------------------------------------------------------------------


@dataclass
class StageEntry:
    """One stage of a store as the tree shows it: done, pending, failed or unreadable."""

    id: str
    stage_kind: str  # "train" or "study"
    run: str
    name: str
    study_kind: str = ""
    status: str = "done"  # done | pending | failed | unreadable | corrupt
    path: Path | None = None
    error: str = ""
    mtime_ns: int = 0
    record: StageRecord | None = None  # what the reader read: attributes, notes, grid point

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
    reading: Any = None  # the reader's StoreReading

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
            elif e.status in ("unreadable", "corrupt"):
                out["errors"] += 1
            else:
                out[e.status] = out.get(e.status, 0) + 1
        return out


def fingerprint(root: Path) -> tuple[Any, ...]:
    """Cheap change detector for polling: names, sizes and mtimes, from ``stat`` alone.

    Progress files (running trainings' curves so far) count too, so a polling
    viewer redraws a training as it goes.
    """
    items: list[Any] = []
    for path in (root / L.INDEX,):
        try:
            st = path.stat()
            items.append((path.name, st.st_size, st.st_mtime_ns))
        except OSError:
            items.append((path.name, None, None))
    for folder, suffix in ((L.STAGES, L.STAGE_SUFFIX), (L.PROGRESS, L.PROGRESS_SUFFIX)):
        try:
            with os.scandir(root / folder) as it:
                for e in it:
                    if e.name.endswith(suffix) and not e.name.startswith("."):
                        try:
                            st = e.stat(follow_symlinks=False)
                            items.append((f"{folder}/{e.name}", st.st_size, st.st_mtime_ns))
                        except OSError:
                            continue
        except OSError:
            pass
    return tuple(sorted(items, key=lambda t: t[0]))


def list_store(root: Path | str) -> Listing:
    """List a store's runs and studies (the reader's stages); files that are no stage become problems."""
    root = Path(root)
    listing = Listing(root=root, name=root.name, fingerprint=fingerprint(root))
    reading = read_store(root, labels_only=True)  # the rest of a stage is read when it is selected
    listing.spec_name = reading.spec_name
    listing.reading = reading
    if reading.index_error:
        listing.problems.append(Problem(root / L.INDEX, reading.index_error))
    if reading.folder_error:
        listing.problems.append(Problem(root / L.STAGES, reading.folder_error))
    groups: dict[str, RunGroup] = {}
    for rec in reading.stages:
        if rec.stage_kind not in (L.KIND_TRAIN, L.KIND_STUDY):
            listing.problems.append(Problem(rec.path or root / L.STAGES / L.stage_file(rec.id), rec.error))
            continue
        entry = StageEntry(
            id=rec.id, stage_kind=rec.stage_kind, run=rec.run, name=rec.name, study_kind=rec.study_kind,
            status=rec.status, path=rec.path, error=rec.error, mtime_ns=rec.mtime_ns, record=rec,
        )
        g = groups.setdefault(entry.run, RunGroup(entry.run))
        if entry.stage_kind == L.KIND_TRAIN and g.train is None:
            g.train = entry
        else:
            g.studies.append(entry)
    listing.runs = list(groups.values())
    return listing


# --- sources: what the command line names ---------------------------------------------------------


# --- attributes and datasets, on demand ----------------------------------------------------------


def stage_attrs(path: Path) -> dict[str, Any]:
    """Every root attribute of an HDF5 file, decoded (bad bytes replaced)."""
    return file_attrs(path)[0]


def json_attr(attrs: dict[str, Any], key: str, default: Any = None) -> Any:
    """A JSON text attribute, raising :class:`SourceError` when it does not parse."""
    return parse_json(attrs, key, default)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a.b.c -> value`` (lists kept whole): spec fields for compare and search."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    else:
        out[prefix] = value
    return out
