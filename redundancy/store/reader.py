"""The one reader of stores: ``show``, ``ls``, the TUI, the report and the Python API read through it.

It is tolerant by construction. Every stage of a store is *done*, *pending*
(planned, not written), *failed* (with the error ``index.h5`` records) or
*unreadable* (with a one-line reason); nothing a file holds makes it raise:

- text attributes are decoded as UTF-8 with undecodable bytes replaced (and
  the stage flagged), JSON attributes that do not parse make their stage
  unreadable with the attribute named;
- a garbage ``index.h5`` is one line (:attr:`StoreReading.index_error`) while
  the stages are still listed from ``stages/``;
- one bad stage never hides its store, one bad store never hides its folder;
- nothing is followed out of the store: a stage file must be a regular file
  directly in ``stages/`` (no symlink), and an HDF5 external link is followed
  only when its target resolves inside the store folder.

Listing reads attributes only (no dataset), so opening a store of a thousand
stages stays fast; tensors are read on request (:func:`read_tensor`,
:func:`read_metrics`, :func:`read_dataset`). Stage validation is the
writer's :meth:`redundancy.store.Store.stage_problem`: a listing skips its
checksum (which reads every dataset), and the first time a process reads a
stage's results or tensors (:func:`complete`) it verifies the stage as ``run``
does, one dataset at a time; a stage whose content no longer matches its
checksum is *corrupt*, never served as done. No dataset is read before its
declared size is checked against :mod:`redundancy.store.bounds` (a compressed
dataset may declare gigabytes in a file of a few MB): one over its limit makes
its stage unreadable, with the dataset named. No torch, Textual, Rich or
matplotlib here.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.store import bounds
from redundancy.store import layout as L
from redundancy.store import results as R
from redundancy.store.environment import Mix, mixed_message, mixes
from redundancy.store.files import CHECKSUM_MISMATCH, Store, open_h5

DONE, PENDING, FAILED, UNREADABLE, CORRUPT = "done", "pending", "failed", "unreadable", "corrupt"
#: Statuses of a stage file that is there but is not served: each is a problem of its store.
BAD = (UNREADABLE, CORRUPT)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Largest number of elements read for a preview; larger datasets are read strided.
PREVIEW_ELEMENTS = 1 << 20
# Attributes that hold JSON text; one that does not parse makes its stage unreadable.
JSON_ATTRS = (L.A_CONFIG, L.A_IDENTITY, L.A_GRID_POINT, L.A_SUMMARY, L.A_CURVES, L.A_RESULTS, L.A_CHECKPOINT_ITERATIONS)
INDEX_JSON_ATTRS = (L.A_PLAN, L.A_FAILURES, L.A_SPEC_RESOLVED)
A_RESULTS = L.A_RESULTS


class ReadError(Exception):
    """Something of a store that cannot be read, with the reason in one line a user can act on."""


# --- decoding ----------------------------------------------------------------------------------------


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (newlines and tabs as spaces), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def decode_value(value: Any) -> tuple[Any, bool]:
    """An attribute value as plain Python, and whether undecodable bytes were replaced.

    h5py hands non-UTF-8 text back as bytes, or as a str with lone surrogates;
    both become a str with U+FFFD in place of each bad byte."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), False
        except UnicodeDecodeError:
            return value.decode("utf-8", "replace"), True
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value, False
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            items = [decode_value(v) for v in value.ravel().tolist()]
            return [v for v, _ in items], any(bad for _, bad in items)
        return value.tolist(), False
    if isinstance(value, np.generic):
        return value.item(), False
    return value, False


def read_attrs(obj: h5py.HLObject, only: Iterable[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Every attribute of ``obj`` (or those named in ``only``), decoded, and a note per attribute
    that needed repair or could not be read."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    try:
        manager = obj.attrs  # h5py builds a new manager on every access: one for all attributes
        names = list(manager.keys()) if only is None else [n for n in only if n in manager]
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        return out, [f"attributes unreadable ({one_line(str(exc), 120)})"]
    for raw_name in names:
        name, bad_name = decode_value(raw_name)
        try:
            value, bad = decode_value(manager[raw_name])
        except (OSError, RuntimeError, ValueError, TypeError, KeyError, UnicodeError) as exc:
            notes.append(f"attribute {name!r} unreadable ({one_line(str(exc), 120)})")
            continue
        if bad or bad_name:
            notes.append(f"attribute {name!r} holds bytes that are not UTF-8 (replaced by U+FFFD)")
        out[str(name)] = value
    return out, notes


def parse_json(attrs: dict[str, Any], name: str, default: Any = None) -> Any:
    """A JSON text attribute; raises :class:`ReadError` naming the attribute when it does not parse."""
    raw = attrs.get(name)
    if raw is None:
        return default
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ReadError(f"attribute {name!r} is not valid JSON ({one_line(str(exc), 80)})") from None


def describe_h5_error(path: Path, exc: BaseException) -> str:
    """h5py's error for ``path`` as a short reason (empty, truncated, locked, not HDF5 ...)."""
    message = str(exc)
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if isinstance(exc, FileNotFoundError) or (size is None and not path.exists()):
        return "file disappeared (removed or replaced while reading)"
    if isinstance(exc, PermissionError) or "Permission denied" in message:
        return "permission denied"
    if path.is_dir():
        return "a folder, not a file"
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
    return f"unreadable HDF5 file: {one_line(message, 160)}"


def open_checked(path: Path) -> h5py.File:
    """Open read-only without a lock, raising :class:`ReadError` with a readable reason."""
    try:
        return open_h5(path)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ReadError(describe_h5_error(Path(path), exc)) from None


# --- what a store holds --------------------------------------------------------------------------------


@dataclass
class StageRecord:
    """One stage of a store: done, pending, failed, unreadable or corrupt, with what its attributes say."""

    id: str
    stage_kind: str  # "train", "study", or "" when a file does not say
    run: str = ""
    name: str = ""
    study_kind: str = ""
    status: str = DONE
    error: str = ""  # one line: why failed, unreadable or corrupt
    path: Path | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # repairs made while decoding (bytes replaced ...)
    grid_point: dict[str, Any] = field(default_factory=dict)
    planned: bool = True
    mtime_ns: int = 0
    run_id: str = ""  # a study's train stage
    complete: bool = True  # every attribute read and checked (False: only the labels, see read_store)
    verified: bool = False  # sizes and checksum checked in this process (see complete)

    @property
    def kind(self) -> str:
        """``train`` or the study kind."""
        return self.study_kind if self.stage_kind == L.KIND_STUDY else (self.stage_kind or "?")

    @property
    def stale(self) -> bool:
        """A stage file the recorded plan does not name (left by an earlier version of the spec)."""
        return not self.planned

    @property
    def done(self) -> bool:
        return self.status == DONE

    def json(self, name: str, default: Any = None) -> Any:
        """A JSON attribute (already checked to parse when the stage is done)."""
        try:
            return parse_json(self.attrs, name, default)
        except ReadError:
            return default

    @property
    def config(self) -> dict[str, Any]:
        value = self.json(L.A_CONFIG, {})
        return value if isinstance(value, dict) else {}


@dataclass
class StoreReading:
    """A store as its reader sees it: index attributes (or why they could not be read) and every stage."""

    root: Path
    index: dict[str, Any] = field(default_factory=dict)
    index_error: str = ""
    index_notes: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    stages: list[StageRecord] = field(default_factory=list)
    folder_error: str = ""

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def spec_name(self) -> str:
        return str(self.index.get(L.A_SPEC_NAME) or "")

    @property
    def store(self) -> Store:
        return Store(self.root)

    def runs(self) -> list[StageRecord]:
        return [s for s in self.stages if s.stage_kind == L.KIND_TRAIN]

    def studies(self) -> list[StageRecord]:
        return [s for s in self.stages if s.stage_kind == L.KIND_STUDY]

    def unplaced(self) -> list[StageRecord]:
        """Files in ``stages/`` that say neither train nor study (unreadable, or not stage files)."""
        return [s for s in self.stages if s.stage_kind not in (L.KIND_TRAIN, L.KIND_STUDY)]

    def stage(self, stage_id: str) -> StageRecord | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def environment_mixes(self) -> list[Mix]:
        """The environment fields on which the store's finished, current stages disagree (none when
        they agree): library versions, BLAS, CPU capability (:mod:`redundancy.store.environment`)."""
        return mixes(s.attrs for s in self.stages if s.done and not s.stale)

    def environment_warning(self) -> str:
        """One line naming what differs between the store's stages, or ``""``."""
        found = self.environment_mixes()
        return mixed_message(found) if found else ""

    def problems(self) -> list[str]:
        """Every one-line problem of the store: its index, its folder, its unreadable stages."""
        out = []
        if self.index_error:
            out.append(f"{self.root / L.INDEX}: {self.index_error}")
        if self.folder_error:
            out.append(f"{self.root / L.STAGES}: {self.folder_error}")
        out += [f"{self.root / L.INDEX}: {note}" for note in self.index_notes]
        for s in self.stages:
            if s.status in BAD:
                out.append(f"{s.path or s.id}: {s.error}")
            out += [f"{s.path or s.id}: {note}" for note in s.notes]
        return out


def _read_index(reading: StoreReading) -> tuple[list[Any], dict[str, str]]:
    """The plan rows and failures of ``index.h5``; a problem sets ``index_error`` (one line) instead."""
    path = reading.root / L.INDEX
    try:
        st = path.lstat()
    except FileNotFoundError:
        return [], {}
    except OSError as exc:
        reading.index_error = f"cannot be examined ({exc.strerror})"
        return [], {}
    if not _inside(path, reading.root) or (path.is_symlink()):
        reading.index_error = "is a symbolic link; not followed"
        return [], {}
    if not os.path.isfile(path) or st.st_size == 0:
        reading.index_error = "empty file (0 bytes)" if st.st_size == 0 else "not a regular file"
        return [], {}
    try:
        with open_checked(path) as f:
            attrs, notes = read_attrs(f)
    except ReadError as exc:
        reading.index_error = str(exc)
        return [], {}
    reading.index, reading.index_notes = attrs, notes
    errors = []
    plan: list[Any] = []
    failures: dict[str, str] = {}
    try:
        value = parse_json(attrs, L.A_PLAN, [])
        if isinstance(value, list):
            plan = value
        else:
            errors.append(f"attribute {L.A_PLAN!r} should be a JSON list")
    except ReadError as exc:
        errors.append(str(exc))
    try:
        value = parse_json(attrs, L.A_FAILURES, [])
        for row in value if isinstance(value, list) else []:
            if isinstance(row, dict) and L.A_STAGE_ID in row:
                failures[str(row[L.A_STAGE_ID])] = one_line(str(row.get("error", "failed")))
    except ReadError as exc:
        errors.append(str(exc))
    try:
        spec = parse_json(attrs, L.A_SPEC_RESOLVED, {})
        reading.spec = spec if isinstance(spec, dict) else {}
    except ReadError as exc:
        errors.append(str(exc))
    reading.index_error = "; ".join(errors)
    return plan, failures


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolved (symlinks followed) stays inside ``root`` resolved."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


# What places a stage in a listing; the rest is read when the stage is looked at (:func:`complete`).
LABEL_ATTRS = (L.A_STAGE_ID, L.A_STAGE_KIND, L.A_RUN, L.A_STUDY, L.A_STUDY_KIND, L.A_RUN_STAGE_ID, L.A_GRID_POINT, *L.ENVIRONMENT)


def _fill_from_file(store: Store, rec: StageRecord, labels_only: bool = False) -> None:
    """Validate a stage file and read its attributes into ``rec`` (opening it once); any problem
    makes it unreadable. ``labels_only`` reads just :data:`LABEL_ATTRS`."""
    got: dict[str, Any] = {}

    def read(f: h5py.File) -> None:
        got["attrs"], got["notes"] = read_attrs(f, LABEL_ATTRS if labels_only else None)

    problem = store.stage_problem(rec.id, checksum=False, read=read)
    if problem == "is empty":
        problem = "empty file (0 bytes)"
    if problem is not None and problem.startswith("cannot be read") and rec.path is not None and not rec.path.is_symlink():
        try:
            open_checked(rec.path).close()
        except ReadError as exc:
            problem = str(exc)
    if problem is not None:
        rec.status, rec.error = UNREADABLE, one_line(problem)
        return
    attrs, notes = got.get("attrs", {}), got.get("notes", [])
    rec.attrs, rec.notes, rec.complete = attrs, notes, not labels_only
    kind = attrs.get(L.A_STAGE_KIND)
    if kind not in (L.KIND_TRAIN, L.KIND_STUDY):
        rec.status = UNREADABLE
        rec.error = f"not a stage file: no {L.A_STAGE_KIND!r} attribute of {L.KIND_TRAIN!r} or {L.KIND_STUDY!r}"
        return
    if rec.stage_kind and rec.stage_kind != kind:
        rec.status, rec.error = UNREADABLE, f"the plan says a {rec.stage_kind} stage, the file says {kind}"
        return
    rec.stage_kind = str(kind)
    rec.run = rec.run or str(attrs.get(L.A_RUN, "?"))
    if kind == L.KIND_STUDY:
        if not attrs.get(L.A_STUDY_KIND):
            rec.status, rec.error = UNREADABLE, f"study stage without a {L.A_STUDY_KIND!r} attribute"
            return
        rec.study_kind = rec.study_kind or str(attrs[L.A_STUDY_KIND])
        rec.name = rec.name or str(attrs.get(L.A_STUDY) or rec.study_kind)
        rec.run_id = str(attrs.get(L.A_RUN_STAGE_ID, ""))
    else:
        rec.name = rec.name or rec.run
    rec.status = DONE
    point = rec.json(L.A_GRID_POINT, None)
    if isinstance(point, dict) and not rec.grid_point:
        rec.grid_point = point
    _check_json(rec)
    known = store.verified_problem(rec.id)  # found corrupt earlier in this process: no reading needed
    if known is not None and rec.status == DONE:
        _mark(rec, known)


def _check_json(rec: StageRecord) -> None:
    names = JSON_ATTRS if rec.complete else (L.A_GRID_POINT,)
    for name in names:
        try:
            parse_json(rec.attrs, name)
        except ReadError as exc:
            rec.status, rec.error = UNREADABLE, str(exc)
            return


def complete(rec: StageRecord) -> StageRecord:
    """``rec`` with every attribute read and its JSON checked (a listing made with ``labels_only``
    read only what places it), and its content verified: every read of a stage's results or tensors
    passes here first. A stage found unreadable or corrupt now says why."""
    if rec.status != DONE or rec.path is None:
        return rec
    if not rec.complete:
        try:
            with open_checked(rec.path) as f:
                rec.attrs, rec.notes = read_attrs(f)
        except ReadError as exc:
            rec.status, rec.error = UNREADABLE, str(exc)
            return rec
        rec.complete = True
        _check_json(rec)
    if rec.status == DONE and not rec.verified:
        verify(rec)
    return rec


def verify(rec: StageRecord) -> StageRecord:
    """Check a done stage's content as ``run`` does (:meth:`redundancy.store.Store.stage_problem`):
    declared sizes within :mod:`redundancy.store.bounds`, then the checksum, one dataset at a time.
    A process verifies each stage file once (a file changed since is verified again)."""
    if rec.status != DONE or rec.path is None or rec.verified:
        return rec
    problem = Store(rec.path.parent.parent).stage_problem(rec.id)
    rec.verified = True
    if problem is not None:
        _mark(rec, problem)
    return rec


def _mark(rec: StageRecord, problem: str) -> None:
    """A done stage found bad: corrupt when its checksum does not match, unreadable otherwise."""
    rec.verified = True
    rec.status = CORRUPT if problem == CHECKSUM_MISMATCH else UNREADABLE
    rec.error = one_line("file disappeared (removed or replaced while reading)" if problem == "missing" else problem)


def stage_entries(root: Path) -> tuple[dict[str, os.DirEntry[str]], str]:
    """The entries named like stage files directly in ``stages/`` (by stage id), and a folder problem."""
    files: dict[str, os.DirEntry[str]] = {}
    folder = root / L.STAGES
    if folder.is_symlink() and not _inside(folder, root):
        return files, "a symbolic link to a folder outside the store; not followed"
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.endswith(L.STAGE_SUFFIX) and not e.name.startswith("."):
                    files[e.name[: -len(L.STAGE_SUFFIX)]] = e
    except FileNotFoundError:
        pass
    except OSError as exc:
        return files, f"cannot list folder ({exc.strerror})"
    return files, ""


def read_store(root: Path | str, *, labels_only: bool = False) -> StoreReading:
    """List a store: every planned stage and every stage file, attributes only, never raising.

    ``labels_only`` reads just the attributes that place each stage (the TUI's tree of a
    thousand-stage store opens in a fraction of the time); :func:`complete` reads the rest
    of one stage when it is looked at."""
    root = Path(root)
    reading = StoreReading(root)
    store = Store(root)
    plan, failures = _read_index(reading)
    files, reading.folder_error = stage_entries(root)

    def mtime(e: os.DirEntry[str]) -> int:
        try:
            return e.stat(follow_symlinks=False).st_mtime_ns
        except OSError:
            return 0

    seen: set[str] = set()
    for row in plan:
        if not isinstance(row, dict) or not {"id", "kind", "run", "name"} <= set(row):
            note = f"plan entry without id, kind, run and name: {one_line(repr(row), 80)}"
            reading.index_error = "; ".join(filter(None, [reading.index_error, note]))
            continue
        sid = str(row["id"])
        if sid in seen:
            continue
        seen.add(sid)
        is_train = row["kind"] == L.KIND_TRAIN
        rec = StageRecord(
            id=sid,
            stage_kind=L.KIND_TRAIN if is_train else L.KIND_STUDY,
            run=str(row["run"]),
            name=str(row["name"]),
            study_kind="" if is_train else str(row["kind"]),
            grid_point=row.get("point") if isinstance(row.get("point"), dict) else {},
        )
        if sid in files:
            rec.path = Path(files[sid].path)
            rec.mtime_ns = mtime(files[sid])
            _fill_from_file(store, rec, labels_only)
        elif sid in failures:
            rec.status, rec.error = FAILED, failures[sid]
        else:
            rec.status = PENDING
        reading.stages.append(rec)
    for sid in sorted(set(files) - seen):
        rec = StageRecord(id=sid, stage_kind="", path=Path(files[sid].path), mtime_ns=mtime(files[sid]), planned=not plan)
        _fill_from_file(store, rec, labels_only)
        reading.stages.append(rec)
    return reading


# --- sources: what a command line names ----------------------------------------------------------------


def is_store(path: Path) -> bool:
    return Store(path).exists()


@dataclass(frozen=True)
class Source:
    """One thing a command line names: a store folder, a lone HDF5 file, or a path that is neither."""

    path: Path
    kind: str  # "store" | "file" | "problem"
    reason: str = ""


def discover(paths: Iterable[Path]) -> list[Source]:
    """Stores named directly or one level below the given folders, HDF5 files, and problems."""
    out: list[Source] = []
    for path in map(Path, paths):
        try:
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
                    out.append(Source(path, "problem", f"no store here (no {L.INDEX} or {L.STAGES}/ in it or its subfolders)"))
            elif path.is_file():
                if path.name == L.INDEX and is_store(path.parent):
                    out.append(Source(path.parent, "store"))
                else:
                    out.append(Source(path, "file"))
            else:
                out.append(Source(path, "problem", "no such file or folder"))
        except OSError as exc:
            out.append(Source(path, "problem", one_line(str(exc))))
    return out


def find_stores(paths: Iterable[Path]) -> list[Path]:
    """Store folders named directly or found one level below the given folders."""
    return [s.path for s in discover(paths) if s.kind == "store"]


# --- study results and train metrics ---------------------------------------------------------------------


def study_results(rec: StageRecord) -> R.Results:
    """The typed results of a done study stage (:mod:`redundancy.store.results`).

    Raises :class:`ReadError` when an attribute does not parse or does not have the schema's shape."""
    attrs = complete(rec).attrs
    if rec.status != DONE:
        raise ReadError(rec.error)
    try:
        plain = parse_json(attrs, A_RESULTS)
        summary = parse_json(attrs, L.A_SUMMARY, {})
        curves = parse_json(attrs, L.A_CURVES, {})
        return R.decode(rec.study_kind, summary, curves, rec.config, plain, tensor=lambda name: _scalar_result(rec, name))
    except ValueError as exc:
        raise ReadError(f"attribute {A_RESULTS!r}: {exc}") from None


def _scalar_result(rec: StageRecord, name: str) -> Any:
    """A scalar result tensor of a study (``fc1@best/iteration``), or None when there is none."""
    try:
        with open_checked(_safe_path(rec)) as f:
            obj = _get(f, f"{L.RESULTS}/{name}", None)
            return _Budget(f).read(obj) if isinstance(obj, h5py.Dataset) and obj.ndim == 0 else None
    except (ReadError, KeyError, OSError):
        return None


def raw_summary(rec: StageRecord) -> dict[str, Any]:
    """A study's ``summary`` as stored (the nested dict the summary tables show)."""
    value = complete(rec).json(L.A_SUMMARY, {})
    return value if isinstance(value, dict) else {}


def raw_curves(rec: StageRecord) -> dict[str, Any]:
    value = complete(rec).json(L.A_CURVES, {})
    return value if isinstance(value, dict) else {}


def _safe_path(rec: StageRecord) -> Path:
    """The file of a done stage, verified (:func:`complete`) before any of its tensors is read."""
    complete(rec)
    if rec.path is None or rec.status != DONE:
        raise ReadError(f"{rec.id}: {rec.status}" + (f": {rec.error}" if rec.error else ""))
    return rec.path


class _Budget:
    """One call's reads from one open file: each dataset within its declared-size limits
    (:mod:`redundancy.store.bounds`), all of them together within the byte cap, checked before reading."""

    def __init__(self, f: h5py.File):
        self.limits = bounds.file_limits(f)
        self.left = self.limits.cap

    def check(self, dset: h5py.Dataset, size: int | None = None) -> None:
        problem = self.limits.problem(dset)
        if problem is not None:
            raise ReadError(problem)
        size = bounds.declared_bytes(dset) if size is None else size
        if size > self.left:
            raise ReadError(f"the datasets asked for declare more than the {bounds.size_text(self.limits.cap)} a reader "
                            f"reads at once (at {dset.name.lstrip('/')!r}; {bounds.READ_LIMIT_ENV} sets the limit)")
        self.left -= size

    def read(self, dset: h5py.Dataset, *, last: bool = False) -> np.ndarray:
        """The whole dataset, or (``last``) its last entry along the first axis."""
        last = last and dset.ndim > 0 and dset.shape[0] > 0
        self.check(dset, bounds.declared_bytes(dset) // dset.shape[0] if last else None)
        try:
            return np.asarray(dset[dset.shape[0] - 1] if last else dset[()])
        except (OSError, ValueError, TypeError) as exc:
            raise ReadError(f"cannot read {dset.name.lstrip('/')!r}: {one_line(str(exc), 120)}") from None


def _get(f: h5py.File, name: str, root: Path | None) -> Any:
    """``f[name]`` following an external link only when its target file lies inside ``root``.

    Without ``root`` (a lone file named on the command line) external links are not followed at all."""
    node: Any = f["/"]
    for part in [p for p in name.split("/") if p]:
        if not isinstance(node, h5py.Group):
            raise ReadError(f"{name!r}: {part!r} is below a dataset")
        link = node.get(part, getlink=True)
        if link is None:
            raise ReadError(f"no {name!r} in {Path(f.filename).name}")
        if isinstance(link, h5py.ExternalLink):
            target = Path(f.filename).parent / link.filename
            if root is None or not _inside(target, root):
                raise ReadError(f"{name!r} is an external link to {link.filename}, outside the store; not followed")
        node = node[part]
    return node


def read_metrics(rec: StageRecord) -> dict[str, np.ndarray]:
    """A train stage's metric series (small 1-D datasets), for the training curves."""
    path = _safe_path(rec)
    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        try:
            group = _get(f, L.METRICS, None)
        except ReadError:
            raise ReadError("train stage without metrics") from None
        if not isinstance(group, h5py.Group):
            raise ReadError("train stage without metrics")
        budget = _Budget(f)
        for name in group:
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue
            obj = group[name]
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
                out[name] = budget.read(obj)
    return out


def dataset_names(rec: StageRecord, group: str) -> list[str]:
    """Paths, relative to ``group`` of a stage, of the datasets under it (no data read; links not followed)."""
    path = _safe_path(rec)
    names: list[str] = []
    with open_checked(path) as f:
        try:
            base = _get(f, group, None)
        except ReadError:
            return names
        if isinstance(base, h5py.Group):
            base.visit_links(lambda n: names.append(n) if isinstance(base.get(n, getlink=True), h5py.HardLink) and isinstance(base[n], h5py.Dataset) else None)
    return names


def read_tensors(rec: StageRecord, group: str, names: Iterable[str], *, last: bool = False) -> dict[str, np.ndarray]:
    """Datasets ``group/<name>`` of a stage (``last``: only the last entry along the first axis)."""
    path = _safe_path(rec)
    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        budget = _Budget(f)
        for name in names:
            obj = _get(f, f"{group}/{name}", None)
            if not isinstance(obj, h5py.Dataset):
                raise ReadError(f"{group}/{name} is not a dataset")
            out[name] = budget.read(obj, last=last)
    return out


def metric_tensor_names() -> tuple[str, str, str]:
    """The groups a tensor name may be looked up in: a study's results, a run's metrics and checkpoints."""
    return L.RESULTS, L.METRICS, L.CHECKPOINTS


def read_tensor(rec: StageRecord, name: str) -> np.ndarray:
    """One dataset of a stage by name: a study's result path (``fc1/iteration``), a run's metric
    (``test_accuracy``), a checkpoint parameter (``<iteration>/<parameter>``), or a full path."""
    path = _safe_path(rec)
    with open_checked(path) as f:
        for candidate in (name, *(f"{g}/{name}" for g in metric_tensor_names())):
            try:
                obj = _get(f, candidate, None)
            except (ReadError, KeyError):
                continue
            if isinstance(obj, h5py.Dataset):
                return _Budget(f).read(obj)
    raise ReadError(f"{rec.id}: no dataset {name!r}")


def checkpoint_params(rec: StageRecord, iteration: int) -> dict[str, np.ndarray]:
    """Every parameter of a train stage's checkpoint at ``iteration``."""
    path = _safe_path(rec)
    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        group = _get(f, L.checkpoint_group(iteration), None)
        budget = _Budget(f)
        for name in group:
            obj = group[name]
            if isinstance(obj, h5py.Dataset):
                out[name] = budget.read(obj)
    return out


def checkpoint_iterations(rec: StageRecord) -> list[int]:
    value = rec.json(L.A_CHECKPOINT_ITERATIONS, [])
    return [int(v) for v in value] if isinstance(value, list) else []


# --- HDF5 browsing (the TUI's dataset tree) ---------------------------------------------------------------


@dataclass(frozen=True)
class H5Child:
    """A member of an HDF5 group: a subgroup or a dataset with its shape and dtype (no data)."""

    name: str
    path: str
    is_group: bool
    shape: tuple[int, ...] = ()
    dtype: str = ""
    members: int = 0


def list_group(path: Path, group: str = "/", root: Path | None = None) -> list[H5Child]:
    """The members of ``group``: metadata only. External links are listed, not followed, unless their
    target lies inside ``root`` (the store folder)."""
    out: list[H5Child] = []
    with open_checked(path) as f:
        try:
            base = _get(f, group, root)
        except (ReadError, KeyError) as exc:
            raise ReadError(f"no group {group!r} in {path.name}" if isinstance(exc, KeyError) else str(exc)) from None
        if not isinstance(base, h5py.Group):
            raise ReadError(f"{group!r} is not a group")
        for name in base:
            child_path = f"{base.name.rstrip('/')}/{name}"
            link = base.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink) and (root is None or not _inside(Path(f.filename).parent / link.filename, root)):
                out.append(H5Child(name, child_path, False, dtype=f"external link to {link.filename} (outside the store; not followed)"))
                continue
            try:
                obj = base[name]
            except (KeyError, OSError) as exc:
                out.append(H5Child(name, child_path, False, dtype=f"unreadable link ({one_line(str(exc), 80)})"))
                continue
            if isinstance(obj, h5py.Group):
                out.append(H5Child(name, child_path, True, members=len(obj)))
            elif isinstance(obj, h5py.Dataset):
                out.append(H5Child(name, child_path, False, tuple(obj.shape), str(obj.dtype)))
    return out


def group_attrs(path: Path, group: str, root: Path | None = None) -> dict[str, Any]:
    with open_checked(path) as f:
        attrs, _ = read_attrs(_get(f, group, root))
        return attrs


def file_attrs(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Every root attribute of an HDF5 file, decoded (see :func:`read_attrs`)."""
    with open_checked(path) as f:
        return read_attrs(f)


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


def read_dataset(path: Path, name: str, limit: int = PREVIEW_ELEMENTS, root: Path | None = None) -> DatasetData:
    """Read a dataset for preview: whole when small, every k-th element per axis when large."""
    with open_checked(path) as f:
        try:
            obj = _get(f, name, root)
        except KeyError:
            obj = None
        if not isinstance(obj, h5py.Dataset):
            raise ReadError(f"{name!r} is not a dataset in {path.name}")
        problem = bounds.file_limits(f).problem(obj)
        if problem is not None:
            raise ReadError(problem)
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
            raise ReadError(f"cannot read {name!r}: {one_line(str(exc), 120)}") from None
        attrs, _ = read_attrs(obj)
        return DatasetData(path, obj.name, shape, str(obj.dtype), attrs, np.asarray(values), steps,
                           str(obj.compression or ""), obj.chunks)


# --- the show --json document ----------------------------------------------------------------------------

RUN_FIELDS = (
    L.A_MODEL, L.A_WIDTH, L.A_DATASET, L.A_DATA_SOURCE, L.A_OFFLINE_SUBSET, L.A_SEED, L.A_ITERATIONS,
    L.A_BEST_ITERATION, L.A_TEST_ACCURACY, L.A_TEST_ACCURACY_AT_BEST, L.A_BEST_VAL_LOSS, L.A_DEVICE, L.A_CREATED,
)


def run_entry(rec: StageRecord) -> dict[str, Any]:
    """A train stage as the document lists it: id, name, status (and error), headline numbers, grid point."""
    out: dict[str, Any] = {"id": rec.id, "name": rec.run or rec.name, "status": rec.status, "grid_point": rec.grid_point}
    if rec.error:
        out["error"] = rec.error
    if rec.stale:
        out["stale"] = True
    if rec.notes:
        out["notes"] = list(rec.notes)
    for key in RUN_FIELDS:  # a stage that is not done serves no number, whatever its file says
        out[key] = rec.attrs.get(key) if rec.done else None
    if rec.done and L.A_DATA_CONTRACT in rec.attrs:  # imported runs only
        out[L.A_DATA_CONTRACT] = rec.attrs.get(L.A_DATA_CONTRACT)
    return out


def study_entry(rec: StageRecord, *, curves: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rec.id,
        "kind": rec.study_kind,
        "name": rec.name,
        "run": rec.run,
        "run_id": rec.run_id or None,
        "status": rec.status,
        "grid_point": rec.grid_point,
        "config": rec.config if rec.done else {},
        "summary": raw_summary(rec) if rec.done else {},
    }
    if rec.error:
        out["error"] = rec.error
    if rec.stale:
        out["stale"] = True
    if rec.notes:
        out["notes"] = list(rec.notes)
    if curves:
        out["curves"] = raw_curves(rec) if rec.done else {}
    return out


def document(reading: StoreReading, *, curves: bool = True) -> dict[str, Any]:
    """The ``show --json`` document of one store: spec, runs, studies, stale stages, unreadable files
    and problems.

    Every run and study of the current plan appears with its status; stages the plan no longer names
    (left by earlier versions of the spec) are apart in ``stale``; a file of ``stages/`` that is no
    stage at all is in ``unreadable``; ``problems`` has one line per thing that could not be read."""
    for rec in reading.stages:
        complete(rec)
    return {
        "store": str(reading.root),
        "spec": reading.spec,
        "index_error": reading.index_error or None,
        "runs": [run_entry(r) for r in reading.runs() if not r.stale],
        "studies": [study_entry(s, curves=curves) for s in reading.studies() if not s.stale],
        "stale": [run_entry(s) if s.stage_kind == L.KIND_TRAIN else study_entry(s, curves=False)
                  for s in reading.stages if s.stale and s.stage_kind in (L.KIND_TRAIN, L.KIND_STUDY)],
        "unreadable": [{"id": s.id, "path": str(s.path), "error": s.error} for s in reading.unplaced()],
        "problems": reading.problems(),
        "mixed_environments": [m.line() for m in reading.environment_mixes()],
    }


def strict_json(value: Any, **kwargs: Any) -> str:
    """JSON text any parser accepts: NaN and infinities become ``null``."""
    return json.dumps(R.strict(_plain(value)), allow_nan=False, **kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def iter_readings(paths: Iterable[Path]) -> Iterator[StoreReading]:
    """A reading per store under ``paths``; a store that cannot be read at all is a reading with its error."""
    for root in find_stores(paths):
        yield read_store(root)


def read_document(root: Path | str, *, curves: bool = True) -> dict[str, Any]:
    """:func:`document` of the store at ``root``."""
    return document(read_store(root), curves=curves)
