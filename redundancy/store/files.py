"""The HDF5 store: one folder per spec, one HDF5 file per finished stage.

The layout (every folder, file, path and attribute name) is
:mod:`redundancy.store.layout`'s and is documented for h5py / h5web / HDFView
users in ``docs/store.md``.

A stage file is written under a temporary name in the same folder, flushed,
fsync'ed and renamed into place with ``os.replace``: a reader sees either no
file or a complete one. ``index.h5``, resume states and progress files are
written the same way. No pickles: tensors are datasets, configs and summaries
are JSON text attributes.

The tool deletes, moves and overwrites only what it wrote:

- A temporary's name carries the tool's prefix, its writer's pid and a random
  token that the writer first appends to the store's journal
  (``.redundancy-journal``, one JSON line per writing process). A writer
  killed with SIGKILL at any moment leaves only temporaries of that form; the
  next writer removes those whose writer the journal lists and that no longer
  runs, and nothing else (a user's ``draft.tmp`` is never touched). A store
  without a journal (written by an earlier version) has nothing to clean.
- Every write, rename and removal goes through descriptors of the store's own
  folders, each opened relative to the store folder without following
  symbolic links (``O_NOFOLLOW``, ``*at`` calls), and new files are created
  exclusively (``O_EXCL | O_NOFOLLOW``): nothing is written, moved or removed
  outside the store through a link inside it. A store whose ``stages/``,
  ``stages/broken/``, ``stages/stale/``, ``resume/`` or ``progress/`` is a link
  is refused before anything is written (:meth:`Store.refuse_links`).

Every stage file carries a ``checksum`` attribute (:func:`content_checksum`),
so a stage counts as done only when its file is a regular file in
``stages/`` that opens, names itself and still holds what was written.
Anything else is moved aside to ``stages/broken/`` and recomputed; a stage
that ``gc`` moved to ``stages/stale/`` and the plan names again is moved back
when its file passes the same checks. Version 0.1 stage files have no
checksum and are accepted when the rest holds.

A write that fails (disk full, file size limit, read-only folder, a name too
long) raises :class:`StoreWriteError` naming the path; the temporary file is
removed and every finished stage is left as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import platform
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.errors import StoreError, StoreRefused, StoreWriteError
from redundancy.store import bounds
from redundancy.store import layout as L
from redundancy.store.layout import FORMAT_VERSION, INDEX, PROGRESS, RESUME, STAGES

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
_JOURNAL_LIMIT = 4 << 20  # bytes of the journal read; one line is about 100 bytes

__all__ = ["FORMAT_VERSION", "INDEX", "STAGES", "StageInfo", "Store", "now_iso", "open_h5", "read_attrs", "to_json"]


def _is_tensor(value: Any) -> bool:
    """A torch tensor, recognised without importing torch (readers of the store never need it)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if _is_tensor(value):
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, allow_nan=True)


def _attr(value: Any) -> Any:
    """Attributes: scalars and strings as they are, everything else as JSON text."""
    if isinstance(value, str):
        return str(value)  # str subclasses (torch's version string) have no HDF5 type
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        return value
    return to_json(value)


def _as_array(value: Any) -> np.ndarray:
    if _is_tensor(value):
        value = value.detach().cpu()
        if value.is_floating_point() and value.element_size() < 4:  # bf16/fp16 have no numpy twin
            value = value.float()
        return value.numpy()
    return np.asarray(value)


@dataclass(frozen=True)
class StageInfo:
    """A finished stage as listed from its attributes (no tensor data is read)."""

    path: Path
    attrs: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.attrs[L.A_STAGE_ID])

    @property
    def kind(self) -> str:
        return str(self.attrs[L.A_STAGE_KIND])

    def json_attr(self, name: str, default: Any = None) -> Any:
        raw = self.attrs.get(name)
        return default if raw is None else json.loads(raw)


def read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    out = {}
    for key, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def open_h5(path: Path | str) -> h5py.File:
    """Open an HDF5 file read-only without taking a lock (readers never block a writer)."""
    return h5py.File(path, "r", locking=False)


def _chunk(h: Any, data: bytes) -> None:
    h.update(f"{len(data)}:".encode())
    h.update(data)


def _attr_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, np.ndarray):
        return value.dtype.str.encode() + repr(value.shape).encode() + np.ascontiguousarray(value).tobytes()
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value).encode()


# Datasets larger than this are hashed a slab of rows at a time, so verifying holds one slab in memory.
HASH_SLAB_BYTES = 1 << 26


def _hash_dataset(h: Any, name: str, dset: h5py.Dataset, slab_bytes: int) -> None:
    """Feed one dataset to ``h`` as the checksum defines it, reading at most ``slab_bytes`` at a time
    (plus one row): the digest equals hashing the whole array's bytes at once."""
    shape = dset.shape
    if not shape or bounds.declared_bytes(dset) <= slab_bytes or shape[0] == 0:
        data = np.ascontiguousarray(dset[()])  # scalars hash as shape (1,), as they always have
        _chunk(h, name.encode())
        _chunk(h, data.dtype.str.encode() + repr(data.shape).encode())
        _chunk(h, data.tobytes())
        return
    rows = max(1, slab_bytes // max(1, bounds.declared_bytes(dset) // shape[0]))
    first = np.ascontiguousarray(dset[0:rows])
    _chunk(h, name.encode())
    _chunk(h, first.dtype.str.encode() + repr(tuple(shape)).encode())
    h.update(f"{math.prod(shape) * first.dtype.itemsize}:".encode())
    h.update(first.tobytes())
    for start in range(rows, shape[0], rows):
        h.update(np.ascontiguousarray(dset[start : start + rows]).tobytes())


def content_checksum(f: h5py.File, *, slab_bytes: int = HASH_SLAB_BYTES) -> str:
    """SHA-256 over a file's root attributes (but ``checksum``) and its datasets, in sorted order.

    Each attribute contributes its name and value (text as UTF-8, numbers by
    their ``repr``); each dataset its path, dtype, shape and C-order bytes;
    every piece is prefixed by its length. External and soft links are not followed.
    Datasets are read one at a time, a slab of rows at a time (:func:`_hash_dataset`);
    a reader checks their declared sizes first (:func:`redundancy.store.bounds.file_problem`).
    """
    h = hashlib.sha256()
    for key in sorted(f.attrs):
        if key == L.A_CHECKSUM:
            continue
        _chunk(h, key.encode())
        _chunk(h, _attr_bytes(f.attrs[key]))
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    for name in sorted(names):
        _hash_dataset(h, name, f[name], slab_bytes)
    return h.hexdigest()


_H5_ERRNO = re.compile(r"errno = (\d+)")


def os_reason(exc: BaseException) -> str:
    """An OS-level failure in a few words: ``No space left on device`` rather than HDF5's stack."""
    code = getattr(exc, "errno", None)
    if not code:
        m = _H5_ERRNO.search(str(exc))
        code = int(m.group(1)) if m else None
    if code:
        reason = os.strerror(code)
        if code in (errno.ENOSPC, errno.EDQUOT):
            reason += " (the disk is full)"
        elif code == errno.ELOOP:
            reason += " (a symbolic link where the store has its own folder or file: a store writes only inside itself)"
        elif code == errno.EFBIG:
            reason += " (a file size limit, such as ulimit -f, is reached)"
        return reason
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def write_failed(path: Path, exc: BaseException) -> StoreWriteError:
    return StoreWriteError(f"cannot write {path}: {os_reason(exc)}; every finished stage is left as it was")


@dataclass(frozen=True)
class Writer:
    """One line of the store's journal: a process that writes temporaries named with ``token``."""

    pid: int
    host: str
    token: str

    def running(self) -> bool:
        """Whether it may still write. The journal is cleaned by the store's writer while it holds the lock,
        when no other process of this tool writes the store: a writer on another host counts as gone."""
        return self.host == platform.node() and pid_alive(self.pid)


def _journal_line(line: bytes) -> Writer | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    pid, host, token = entry.get("pid"), entry.get("host"), entry.get("token")
    if not isinstance(pid, int) or not isinstance(host, str) or not isinstance(token, str) or not re.fullmatch(r"[0-9a-f]{16}", token):
        return None
    return Writer(pid, host, token)


def _lexists(name: str, folder: int) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


#: The problem (None for none) each stage file verified in this process had, by what identifies its
#: content on disk (a file rewritten or edited has another size, mtime, ctime or inode) and the read limit.
_VERIFIED: dict[tuple[Any, ...], str | None] = {}
CHECKSUM_MISMATCH = "does not match its checksum (its content changed after it was written)"


def _content_key(st: os.stat_result, stage_id: str) -> tuple[Any, ...]:
    return (stage_id, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, bounds.read_limit())


def _content_problem(f: h5py.File) -> str | None:
    """Why an open stage file's content is not what was written: a dataset over its declared-size
    limits (checked first, reading nothing) or a checksum that does not match; None when it holds.
    A file without a checksum (version 0.1) is accepted once its sizes are."""
    problem = bounds.file_problem(f)
    if problem is not None:
        return problem
    stored = f.attrs.get(L.A_CHECKSUM)
    if stored is None:
        return None
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    return None if str(stored) == content_checksum(f) else CHECKSUM_MISMATCH


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (one we may not signal counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """A store folder: write finished stages atomically, list and read them back."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        #: Attributes every rebuilt ``index.h5`` carries (the store's identity, set by the writer session).
        self.identity: dict[str, Any] = {}
        self._writer: tuple[int, str] | None = None  # (pid, token) this process journaled

    # --- paths ------------------------------------------------------------------------------
    @property
    def stage_dir(self) -> Path:
        return self.root / STAGES

    def stage_path(self, stage_id: str) -> Path:
        return self.stage_dir / L.stage_file(stage_id)

    @property
    def index_path(self) -> Path:
        return self.root / INDEX

    def resume_path(self, stage_id: str) -> Path:
        return self.root / RESUME / L.resume_file(stage_id)

    def progress_path(self, stage_id: str) -> Path:
        return self.root / PROGRESS / L.progress_file(stage_id)

    def exists(self) -> bool:
        return self.index_path.exists() or self.stage_dir.is_dir()

    def has(self, stage_id: str) -> bool:
        return self.stage_path(stage_id).exists()

    def stale_path(self, stage_id: str) -> Path:
        return self.stage_dir / L.STALE / L.stage_file(stage_id)

    # --- the store's own folders, opened without following links ---------------------------------
    @contextmanager
    def folder(self, *parts: str, create: bool = False) -> Iterator[int]:
        """A descriptor of the store's folder ``parts`` (``()``: the store folder itself).

        Each part is opened relative to the one above without following a
        symbolic link (a link there raises ``OSError`` ``ELOOP``), so whatever
        is written, renamed or removed through the descriptor lies inside the
        store. ``create`` makes missing folders (the store folder with its parents).
        """
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, _DIRECTORY)
        try:
            for part in parts:
                if create:
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    inner = os.open(part, _DIRECTORY | _NOFOLLOW, dir_fd=fd)
                except NotADirectoryError:  # Linux says so of a link opened with O_DIRECTORY | O_NOFOLLOW
                    if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(self.root.joinpath(*parts))) from None
                    raise
                os.close(fd)
                fd = inner
            yield fd
        finally:
            os.close(fd)

    def refuse_links(self) -> None:
        """Refuse (:class:`StoreRefused`) a store whose own folders, journal or lock are symbolic links.

        A received store could point ``resume/`` or ``stages/broken/`` at any
        folder; the writes go through descriptors that never follow them (see
        :meth:`folder`), and this check says so in one line before anything is written.
        """
        for parts in (*L.OWN_FOLDERS, (L.JOURNAL,), (L.LOCK,)):
            path = self.root.joinpath(*parts)
            try:
                link = stat.S_ISLNK(path.lstat().st_mode)
            except OSError:  # missing, or below a file: the write that needs it says so
                continue
            if link:
                raise StoreRefused(
                    f"{path} is a symbolic link (to {os.readlink(path)}); a store writes only inside its own folder, "
                    f"so {self.root} is refused: replace the link by a folder of the store, or move it out of the store"
                )

    def _token(self, root: int) -> str:
        """This process's token for temporary names, appended to the journal the first time (``root``: the store folder)."""
        pid = os.getpid()
        if self._writer is None or self._writer[0] != pid:  # a forked worker journals its own
            token = secrets.token_hex(8)
            line = json.dumps({"pid": pid, "host": platform.node(), "token": token, "since": now_iso()}) + "\n"
            fd = os.open(L.JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=root)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            self._writer = (pid, token)
        return self._writer[1]

    def forget_writer(self) -> None:
        """Journal this process again before its next temporary (the journal was moved or replaced)."""
        self._writer = None

    def writers(self) -> list[Writer]:
        """The processes the journal lists (none for a store without a journal)."""
        try:
            with self.folder() as root:
                fd = os.open(L.JOURNAL, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=root)
                try:
                    data = os.read(fd, _JOURNAL_LIMIT)
                finally:
                    os.close(fd)
        except OSError:
            return []
        return [w for w in map(_journal_line, data.splitlines()) if w is not None]

    def _write_file(self, parts: tuple[str, ...], name: str, data: bytes | memoryview, *, sync: bool = True) -> None:
        """Write ``data`` to ``parts/name`` in the store: a journaled temporary, created exclusively, then renamed.

        Raises ``OSError``; the temporary is removed whatever fails.
        """
        with self.folder(create=True) as root:
            token = self._token(root)
        with self.folder(*parts, create=True) as fd:
            tmp = L.tmp_name(name, os.getpid(), token)
            out = os.open(tmp, _NEW_FILE, 0o644, dir_fd=fd)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(out, view[: 1 << 24]) :]
                    if sync:
                        os.fsync(out)
                finally:
                    os.close(out)
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=fd)
                except OSError:
                    pass
                raise

    def _remove(self, parts: tuple[str, ...], name: str) -> None:
        """Remove the store's file ``parts/name`` (a link there is removed, never what it points to); a missing one is fine."""
        try:
            with self.folder(*parts) as fd:
                os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass

    # --- validation ---------------------------------------------------------------------------
    def stage_problem(
        self, stage_id: str, *, checksum: bool = True, read: Callable[[h5py.File], None] | None = None, path: Path | None = None
    ) -> str | None:
        """Why ``stages/<stage_id>.h5`` does not count as a finished stage; None when it does.

        A missing file is ``"missing"``; any other answer names what is wrong with
        the file that is there (see the module docstring). ``checksum=False`` skips
        the content checksum, which reads every dataset: the reader lists a store of
        a thousand stages from their attributes alone. ``read``, when given, is called
        with the open file once it passed, so a reader opens each stage file once.
        ``path`` checks another file as stage ``stage_id`` (one in ``stages/stale/``).
        """
        path = self.stage_path(stage_id) if path is None else path
        try:
            st = path.lstat()
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"cannot be examined ({os_reason(exc)})"
        if stat.S_ISLNK(st.st_mode):
            return "is a symbolic link, not a stage file"
        if not stat.S_ISREG(st.st_mode):
            return "is not a regular file"
        key = _content_key(st, stage_id)
        if read is None and checksum and key in _VERIFIED:
            return _VERIFIED[key]
        if st.st_size == 0:
            return "is empty"
        try:
            with open_h5(path) as f:
                named = f.attrs.get(L.A_STAGE_ID)
                if isinstance(named, bytes):
                    named = named.decode("utf-8", "replace")
                if named is None:
                    return f"has no {L.A_STAGE_ID} attribute"
                if str(named) != stage_id:
                    return f"holds stage {named!r}, not {stage_id!r}"
                if checksum:
                    problem = _content_problem(f)
                    _VERIFIED[key] = problem
                    if problem is not None:
                        return problem
                if read is not None:
                    read(f)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            return f"cannot be read ({os_reason(exc)})"
        return None

    def verified_problem(self, stage_id: str) -> str | None:
        """What this process found when it last verified the stage file as it is now (size, times and
        inode unchanged), without reading it; None when it found nothing or has not verified it."""
        try:
            st = self.stage_path(stage_id).lstat()
        except OSError:
            return None
        return _VERIFIED.get(_content_key(st, stage_id))

    def done(self, stage_id: str, log: Any = None) -> bool:
        """Whether a stage is finished; a stage file that fails validation is moved aside (see :meth:`move_aside`),
        and a valid one that ``gc`` moved to ``stages/stale/`` is moved back.

        Call it only as the store's writer: it may move files.
        """
        problem = self.stage_problem(stage_id)
        if problem is None:
            return True
        if problem != "missing":
            moved = self.move_aside(self.stage_path(stage_id), L.BROKEN)
            if log is not None:
                log(f"broken  {self.stage_path(stage_id)} {problem}; moved to {moved}, recomputing")
        if self.stale_reusable(stage_id):
            self.restore_stale(stage_id)
            if log is not None:
                log(f"reused  {stage_id} from {self.stale_path(stage_id).parent} (moved aside by gc; the plan names it again)")
            return True
        return False

    def stale_reusable(self, stage_id: str) -> bool:
        """Whether ``stages/stale/<id>.h5`` is a valid file of stage ``stage_id`` (the id is the hash of its config)."""
        return self.stage_problem(stage_id, path=self.stale_path(stage_id)) is None

    def restore_stale(self, stage_id: str) -> None:
        """Move a stage that ``gc`` moved to ``stages/stale/`` back into ``stages/`` (never over a file there)."""
        name = L.stage_file(stage_id)
        try:
            with self.folder(STAGES, L.STALE) as stale, self.folder(STAGES) as stages:
                if _lexists(name, stages):
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(self.stage_path(stage_id)))
                os.rename(name, name, src_dir_fd=stale, dst_dir_fd=stages)
        except OSError as exc:
            raise write_failed(self.stage_path(stage_id), exc) from None

    def move_aside(self, path: Path, folder: str) -> Path:
        """Rename ``path`` (in the store) into ``stages/<folder>/`` (never deleting, never over a file); returns where it went."""
        dest_dir = self.stage_dir / folder
        try:
            with self.folder(*path.parent.relative_to(self.root).parts) as src, self.folder(STAGES, folder, create=True) as dst:
                name, n = path.name, 1
                while _lexists(name, dst):
                    name, n = f"{path.name}.{n}", n + 1
                os.rename(path.name, name, src_dir_fd=src, dst_dir_fd=dst)
        except OSError as exc:
            raise write_failed(dest_dir, exc) from None
        return dest_dir / name

    def stage_ids(self) -> list[str]:
        """Ids of the entries named like stage files directly in ``stages/`` (valid or not)."""
        if not self.stage_dir.is_dir():
            return []
        return sorted(
            p.name.removesuffix(L.STAGE_SUFFIX)
            for p in self.stage_dir.iterdir()
            if p.name.endswith(L.STAGE_SUFFIX) and not p.name.startswith(".")
        )

    # --- writing ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the store's folders (refusing linked ones) and remove temporaries whose writers are gone."""
        self.refuse_links()
        try:
            with self.folder(STAGES, create=True):
                pass
        except (FileExistsError, NotADirectoryError):
            raise StoreWriteError(f"cannot write the store {self.root}: it or a folder above it is a file, not a folder") from None
        except OSError as exc:
            raise write_failed(self.stage_dir, exc) from None
        self.clean_temporaries()

    def clean_temporaries(self) -> int:
        """Remove the temporaries of journaled writers that no longer run; returns how many.

        Only names of the tool's form carrying a journaled writer's token are
        removed, in the store's own folders; a writer that still runs keeps its
        temporaries (they are its to finish or remove), and its journal line.
        """
        writers = self.writers()
        gone = {(w.pid, w.token) for w in writers if not w.running()}
        if not gone:
            return 0
        removed = 0
        for parts in ((), (STAGES,), (RESUME,), (PROGRESS,)):
            try:
                with self.folder(*parts) as fd:
                    for name in os.listdir(fd):
                        if L.tmp_writer(name) in gone:
                            try:
                                os.unlink(name, dir_fd=fd)
                            except OSError:
                                continue
                            removed += 1
            except OSError:
                continue
        try:
            with self.folder() as root:
                self._token(root)  # this process's line first: the rewritten journal keeps it
            kept = [w for w in self.writers() if (w.pid, w.token) not in gone]
            text = "".join(json.dumps({"pid": w.pid, "host": w.host, "token": w.token}) + "\n" for w in kept)
            self._write_file((), L.JOURNAL, text.encode())
        except OSError:
            pass  # the lines stay; the next writer removes nothing more for them
        return removed

    @contextmanager
    def _atomic(self, final: Path) -> Iterator[h5py.File]:
        """Build the file in memory, then write it under a temporary name, fsync and rename it into place.

        HDF5 never writes to disk itself: a write that fails for want of space or
        past a file size limit is a plain ``OSError`` here, never a library left
        in a broken state (which ends the process with a segmentation fault).
        The cost is the file's size in memory while it is written.
        """
        with h5py.File(f"{final.name}.image", "w", driver="core", backing_store=False, libver="latest") as f:
            yield f
            f.flush()
            image = f.id.get_file_image()
        try:
            self._write_file(final.parent.relative_to(self.root).parts, final.name, image)
        except OSError as exc:
            raise write_failed(final, exc) from None

    def write_stage(self, stage_id: str, attrs: dict[str, Any], tensors: dict[str, Any]) -> Path:
        """Write one stage file: ``attrs`` on the root, ``tensors`` as datasets at their paths."""
        final = self.stage_path(stage_id)
        limit = bounds.read_limit()
        with self._atomic(final) as f:
            f.attrs[L.A_FORMAT_VERSION] = FORMAT_VERSION
            f.attrs[L.A_STAGE_ID] = stage_id
            for key, value in attrs.items():
                if value is not None:
                    f.attrs[key] = _attr(value)
            for path, value in tensors.items():
                arr = _as_array(value)
                if arr.dtype == np.float64 and arr.ndim > 1:
                    arr = arr.astype(np.float32)
                if arr.dtype == object:
                    raise StoreError(f"{stage_id}: tensor {path!r} has no numeric dtype")
                if arr.nbytes > limit:  # a store never holds what its readers refuse
                    raise StoreError(f"{stage_id}: tensor {path!r} is {bounds.size_text(arr.nbytes)}, over the "
                                     f"{bounds.size_text(limit)} readers read at once; raise {bounds.READ_LIMIT_ENV} to store it")
                compression = "gzip" if arr.size >= 4096 and arr.dtype == np.uint8 else None
                f.create_dataset(path, data=arr, compression=compression)
            f.attrs[L.A_CHECKSUM] = content_checksum(f)
        try:  # what this process just wrote and hashed needs no second reading
            _VERIFIED[_content_key(final.lstat(), stage_id)] = None
        except OSError:
            pass
        return final

    def write_resume(self, stage_id: str, content: bytes) -> None:
        """Replace a training stage's resume state (opaque bytes of the training loop) atomically; raises ``OSError``."""
        self._write_file((RESUME,), L.resume_file(stage_id), content)

    def read_resume(self, stage_id: str) -> bytes | None:
        """A training stage's last resume state, or None when it has none (or it cannot be read)."""
        try:
            return self.resume_path(stage_id).read_bytes()
        except OSError:
            return None

    def drop_resume(self, stage_id: str) -> None:
        """Remove a resume state the tool wrote, once its stage file is stored (or before a forced run)."""
        try:
            self._remove((RESUME,), L.resume_file(stage_id))
        except OSError as exc:
            raise write_failed(self.resume_path(stage_id), exc) from None

    def write_progress(self, stage_id: str, content: dict[str, Any]) -> None:
        """Replace a running training's progress file (see ``docs/store.md``); a failed write is skipped.

        Progress is a view, not a result: a full disk or a store folder this
        process cannot write must not fail the training.
        """
        data = to_json({L.A_STAGE_ID: stage_id, **content}).encode("utf-8")
        try:
            self._write_file((PROGRESS,), L.progress_file(stage_id), data, sync=False)
        except OSError:
            pass

    def read_progress(self, stage_id: str) -> dict[str, Any] | None:
        """A running training's progress (``docs/store.md``), or None when there is none or it cannot be read."""
        try:
            content = json.loads(self.progress_path(stage_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return content if isinstance(content, dict) and content.get(L.A_STAGE_ID) == stage_id else None

    def progress_ids(self) -> list[str]:
        """Ids of the stages that have a progress file (running, or left by a killed run)."""
        folder = self.root / PROGRESS
        if not folder.is_dir():
            return []
        return sorted(p.name.removesuffix(L.PROGRESS_SUFFIX) for p in folder.glob(f"*{L.PROGRESS_SUFFIX}") if not p.name.startswith("."))

    def drop_progress(self, stage_id: str) -> None:
        """Remove a progress file the tool wrote, once its stage is stored or has failed."""
        try:
            self._remove((PROGRESS,), L.progress_file(stage_id))
        except OSError:
            pass

    def write_index(self, attrs: dict[str, Any], links: dict[str, str]) -> None:
        """Rebuild ``index.h5``: ``links`` maps a path in the index to a stage id (external link)."""
        identity = self.identity or self._kept_identity()
        with self._atomic(self.index_path) as f:
            f.attrs[L.A_FORMAT_VERSION] = FORMAT_VERSION
            for key, value in {**attrs, **identity}.items():
                if value is not None:
                    f.attrs[key] = _attr(value)
            for path, stage_id in sorted(links.items()):
                if self.stage_path(stage_id).is_file() and not self.stage_path(stage_id).is_symlink():
                    f[path] = h5py.ExternalLink(L.stage_link_target(stage_id), "/")

    def _kept_identity(self) -> dict[str, Any]:
        """The identity attributes of the current ``index.h5``, carried over when no session set them."""
        try:
            attrs = self.index_attrs()
        except (OSError, UnicodeDecodeError):
            return {}
        return {k: attrs[k] for k in (L.A_SPEC_PATH, L.A_SPEC_HISTORY) if k in attrs}

    # --- reading ----------------------------------------------------------------------------
    def index_attrs(self) -> dict[str, Any]:
        if not self.index_path.exists():
            return {}
        with open_h5(self.index_path) as f:
            return read_attrs(f)

    def stages(self) -> list[StageInfo]:
        """Every finished stage, attributes only, sorted by creation time."""
        out = []
        if not self.stage_dir.is_dir():
            return out
        for path in sorted(self.stage_dir.glob(f"*{L.STAGE_SUFFIX}")):
            try:
                with open_h5(path) as f:
                    out.append(StageInfo(path, read_attrs(f)))
            except OSError as exc:
                raise StoreError(f"{path}: unreadable stage file ({exc})") from None
        out.sort(key=lambda s: (str(s.attrs.get(L.A_CREATED, "")), s.id))
        return out

    def stage_environment(self, stage_id: str) -> dict[str, str]:
        """The environment a finished stage recorded (:data:`layout.ENVIRONMENT`, the fields it has);
        empty when its file cannot be read."""
        from redundancy.store.environment import environment_of

        try:
            with open_h5(self.stage_path(stage_id)) as f:
                return environment_of({k: f.attrs[k] for k in L.ENVIRONMENT if k in f.attrs})
        except (OSError, KeyError, ValueError, RuntimeError):
            return {}

    def stage(self, stage_id: str) -> StageInfo:
        path = self.stage_path(stage_id)
        if not path.exists():
            raise StoreError(f"{self.root}: no stage {stage_id!r}")
        with open_h5(path) as f:
            return StageInfo(path, read_attrs(f))

    def read_tensors(self, stage_id: str, group: str = "/") -> dict[str, np.ndarray]:
        """Every dataset under ``group`` of a stage, keyed by its path relative to ``group``."""
        out: dict[str, np.ndarray] = {}
        with open_h5(self.stage_path(stage_id)) as f:
            base = f[group]
            prefix = base.name.rstrip("/") + "/"
            limits = bounds.file_limits(f)

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    problem = limits.problem(obj)  # checked before a byte of it is read
                    if problem is not None:
                        raise StoreError(f"{self.stage_path(stage_id)}: {problem}")
                    out[(base.name.rstrip("/") + "/" + name)[len(prefix):]] = obj[()]

            base.visititems(visit)
        return out


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
