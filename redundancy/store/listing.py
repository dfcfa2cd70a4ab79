"""Listing a store: every planned stage and every stage file, attributes only, never raising.

Listing reads attributes only (no dataset), so opening a store of a thousand
stages stays fast. Stage validation is the writer's
:meth:`redundancy.store.Store.stage_problem`: a listing skips its checksum
(which reads every dataset), and the first time a process reads a stage's
results or tensors (:func:`complete`) it verifies the stage as ``run`` does,
one dataset at a time; a stage whose content no longer matches its checksum is
*corrupt*, never served as done. Nothing is followed out of the store: a stage
file must be a regular file directly in ``stages/`` (no symlink).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py

from redundancy.store import layout as L
from redundancy.store.attrs import ReadError, inside, one_line, open_checked, parse_json, read_attrs
from redundancy.store.checksum import CHECKSUM_MISMATCH
from redundancy.store.files import Store
from redundancy.store.records import CORRUPT, DONE, FAILED, JSON_ATTRS, PENDING, UNREADABLE, StageRecord, StoreReading


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
    if not inside(path, reading.root) or (path.is_symlink()):
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
    if folder.is_symlink() and not inside(folder, root):
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



def raw_summary(rec: StageRecord) -> dict[str, Any]:
    """A study's ``summary`` as stored (the nested dict the summary tables show)."""
    value = complete(rec).json(L.A_SUMMARY, {})
    return value if isinstance(value, dict) else {}


def raw_curves(rec: StageRecord) -> dict[str, Any]:
    value = complete(rec).json(L.A_CURVES, {})
    return value if isinstance(value, dict) else {}

