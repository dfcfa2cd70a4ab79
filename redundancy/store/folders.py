"""A store's own folders and files, written atomically and only inside the store.

A file is written under a temporary name in the same folder, flushed,
fsync'ed and renamed into place with ``os.replace``: a reader sees either no
file or a complete one. Stage files, ``index.h5``, resume states and progress
files are all written so (:meth:`StoreFolder._write_file`).

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
  is refused before anything is written (:meth:`StoreFolder.refuse_links`).

A write that fails (disk full, file size limit, read-only folder, a name too
long) raises :class:`StoreWriteError` naming the path; the temporary file is
removed and every finished stage is left as it was.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redundancy.errors import StoreRefused, StoreWriteError
from redundancy.store import layout as L
from redundancy.store.layout import INDEX, PROGRESS, RESUME, STAGES

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
_JOURNAL_LIMIT = 4 << 20  # bytes of the journal read; one line is about 100 bytes


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


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class StoreFolder:
    """A store folder's paths, and its own folders and files written atomically, journaled and only inside it."""

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
