"""One writer per store: an exclusive lock, the store's identity, and moving stores and stages aside.

The lock is ``fcntl.flock`` on ``<store>/.writer.lock``. The operating system
releases it when its process ends, however it ends, so there is never a stale
lock to clean up; the file itself stays (removing it would let two processes
lock two different files of one name). While held it records the holder's pid,
host and command, for the message a second writer prints while it waits.

Where the file system has no locks (some network file systems), taking the
lock fails with one message; setting ``REDUNDANCY_NO_LOCK=1`` writes without
it, and then the user alone makes sure only one ``redundancy run`` writes the
store at a time.

A store is written by one spec file: ``index.h5`` records that file's path and
the history of the resolved spec's hashes. A run of a different file with the
same name is refused, unless its content is one the store was written from
before (the same spec, moved or copied). Nothing here deletes on its own: a
replaced store, a stale stage and a broken stage file are moved aside. Only
``gc --delete``, after the user confirms the list it printed, removes stale
stage files (:func:`delete_stale`), and only files this tool wrote: regular
files named like a stage whose ``stage_id`` attribute is that name.

A folder is written as a store only when it is one already, is empty, or is
new: ``--store`` naming a folder of other files is refused before anything is
written (:func:`refuse_foreign`). ``run --replace`` moves only the store's own
entries (:data:`~redundancy.store.layout.ENTRIES` and the tool's temporaries)
into ``<store>.replaced-<time>/``; other files in the folder stay where they are.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from redundancy.errors import StoreBusy, StoreError, StoreRefused
from redundancy.store import layout as L
from redundancy.store.files import Store, now_iso, open_h5, os_reason, write_failed

NO_LOCK_ENV = "REDUNDANCY_NO_LOCK"
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}

LogFn = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


class WriterLock:
    """The exclusive writer lock of one store folder (which must exist)."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / L.LOCK
        self.fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as recorded in the lock file: ``pid 123 on host (redundancy run spec.yaml)``."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8", errors="replace") or "{}")
        except (OSError, ValueError):
            info = {}
        if not isinstance(info, dict) or "pid" not in info:
            return "another process"
        return f"pid {info.get('pid')} on {info.get('host', '?')} ({info.get('command', '?')})"

    def acquire(self, *, wait: bool = True, log: LogFn = _quiet) -> None:
        if os.environ.get(NO_LOCK_ENV):
            log(f"warning: {NO_LOCK_ENV} is set: writing {self.root} without a lock; no other run may write it meanwhile")
            return
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreRefused(f"{self.path} is a symbolic link; a store writes only inside its own folder, so {self.root} is refused") from None
            raise write_failed(self.path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                message = f"{self.root} is being written by {self.holder()}"
                if not wait:
                    raise StoreBusy(f"{message}; try again once it has finished") from None  # run adds its --no-wait hint
                log(f"{message}; waiting for it to finish (then this run continues from what it stored)")
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            os.close(fd)
            if exc.errno in _NO_LOCKS:
                raise StoreError(
                    f"cannot lock {self.path}: its file system does not support locks ({os_reason(exc)}); "
                    f"to write without a lock, set {NO_LOCK_ENV}=1 and make sure no other run writes this store meanwhile"
                ) from None
            raise write_failed(self.path, exc) from None
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        record = json.dumps({"pid": os.getpid(), "host": platform.node(), "command": " ".join(sys.argv) or "python", "since": now_iso()})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode() + b"\n", 0)
        except OSError as exc:
            self.release()
            raise write_failed(self.path, exc) from None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None


def _make_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"cannot write the store {root}: it or a folder above it is a file, not a folder; choose another --store") from None
    except OSError as exc:
        raise write_failed(root, exc) from None


@contextmanager
def locked(store: Store, *, wait: bool = True, log: LogFn = _quiet) -> Iterator[Store]:
    """Hold ``store``'s writer lock (creating its folder) for the duration of the block."""
    _make_root(store.root)
    lock = WriterLock(store.root)
    lock.acquire(wait=wait, log=log)
    try:
        yield store
    finally:
        lock.release()


def spec_digest(resolved: Any) -> str:
    """SHA-256 of a resolved spec as canonical JSON: what the store's spec history records."""
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _new_sibling(root: Path, tag: str) -> Path:
    """Create the folder ``<root>.<tag>-<time>`` (another name when that is taken); returns it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 0
    while True:
        dest = root.with_name(f"{root.name}.{tag}-{stamp}" + (f".{n}" if n else ""))
        try:
            dest.mkdir()
            return dest
        except FileExistsError:
            n += 1


def store_entries(root: Path) -> list[str]:
    """The names directly in ``root`` that are the store's: its files and folders, and the tool's temporaries."""
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise write_failed(root, exc) from None
    return sorted(n for n in names if n in L.ENTRIES or L.tmp_writer(n) is not None)


def _h5_attrs_have(path: Path, name: str) -> bool:
    """Whether ``path`` is a regular HDF5 file whose root carries the attribute ``name``."""
    try:
        if path.is_symlink() or not path.is_file():
            return False
        with open_h5(path) as f:
            return name in f.attrs
    except (OSError, ValueError, RuntimeError):
        return False


def is_store(store: Store, *, look_at: int = 5) -> bool:
    """Whether ``store.root`` holds a store this tool wrote: an ``index.h5`` of this format, the tool's
    lock or journal, or a stage file in ``stages/`` (the first ``look_at`` files named like one are opened).

    A folder named ``stages/`` or a file named ``index.h5`` alone is not enough: users have those too.
    """
    root = store.root
    if any(os.path.lexists(root / name) for name in (L.LOCK, L.JOURNAL)) or _h5_attrs_have(store.index_path, L.A_FORMAT_VERSION):
        return True
    named = [root / L.STAGES / L.stage_file(sid) for sid in store.stage_ids()[:look_at]]
    return any(_h5_attrs_have(path, L.A_STAGE_ID) for path in named)


def refuse_foreign(store: Store) -> None:
    """Refuse (:class:`StoreRefused`) to write a store into a folder that holds files and is not a store (:func:`is_store`)."""
    root = store.root
    try:
        if not root.is_dir() or is_store(store):
            return
        names = sorted(os.listdir(root))
    except OSError:
        return  # the lock or the first write reports what is wrong with the folder
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise StoreRefused(
            f"{root} is not a store and is not empty (it holds {shown}); nothing was written. "
            f"Choose a new or empty folder with --store"
        )


def replace_store(store: Store, *, wait: bool = True, log: LogFn = _quiet) -> Path | None:
    """Move an existing store's entries aside to ``<store>.replaced-<time>/``; returns where they went.

    Only the store's own entries move (:func:`store_entries`); anything else in
    the folder stays, and so does the lock file, which this process holds meanwhile.
    """
    try:
        if not store.root.is_dir():
            return None
    except OSError as exc:
        raise write_failed(store.root, exc) from None
    with locked(store, wait=wait, log=log):
        entries = store_entries(store.root)
        if not entries:
            return None
        base = store.root.resolve() if store.root.is_symlink() else store.root  # beside the folder itself: one file system
        try:
            dest = _new_sibling(base, L.REPLACED_TAG)
            with store.folder() as src:
                dst = os.open(dest, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
                try:
                    for name in entries:
                        os.rename(name, name, src_dir_fd=src, dst_dir_fd=dst)
                finally:
                    os.close(dst)
        except OSError as exc:
            raise write_failed(store.root, exc) from None
        store.forget_writer()  # the journal moved with the old store: the next write starts a new one
    log(f"moved the old store {store.root} aside to {dest}")
    return dest


def _history(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        history = json.loads(attrs.get(L.A_SPEC_HISTORY) or "[]")
    except (TypeError, ValueError):
        return []
    return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


def claim_identity(store: Store, spec_path: Path | None, resolved: Any, *, log: LogFn = _quiet) -> None:
    """Check that ``spec_path`` may write ``store`` and set the identity every rebuilt ``index.h5`` carries.

    Call it holding the lock. A store written by another spec file is refused
    (:class:`StoreError` naming both files and the ways out), unless this
    spec's content is one the store was written from before.
    """
    digest = spec_digest(resolved)
    attrs: dict[str, Any] = {}
    if store.index_path.exists() or store.index_path.is_symlink():
        try:
            attrs = store.index_attrs()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            moved = store.move_aside(store.index_path, L.BROKEN)
            log(f"broken  {store.index_path} cannot be read ({os_reason(exc)}); moved to {moved}, rebuilding it")
    history = _history(attrs)
    here = str(spec_path.resolve()) if spec_path is not None else None
    recorded = attrs.get(L.A_SPEC_PATH)
    if here is not None and recorded and str(recorded) != here and digest not in {h.get("sha256") for h in history}:
        raise StoreError(
            f"{store.root} is written by the spec {recorded}, not by {here} (both are named {attrs.get(L.A_SPEC_NAME, '?')!r}); "
            f"write this spec elsewhere with --store PATH, or start the store anew with --replace "
            f"(the old store is moved aside, not deleted)"
        )
    if not history or history[-1].get("sha256") != digest:
        history.append({"sha256": digest, "path": here or recorded, "since": now_iso()})
    store.identity = {L.A_SPEC_PATH: here or recorded, L.A_SPEC_HISTORY: json.dumps(history)}


@contextmanager
def writer_session(
    store: Store,
    *,
    spec_path: Path | None,
    resolved: Any,
    wait: bool = True,
    replace: bool = False,
    log: LogFn = _quiet,
) -> Iterator[Store]:
    """Everything ``redundancy run`` does before and after running a plan into ``store``:
    move an old store aside (``replace``), take the lock (waiting or not), check and record
    the spec that writes the store, remove dead writers' temporaries."""
    refuse_foreign(store)
    if replace:
        replace_store(store, wait=wait, log=log)
    store.refuse_links()
    new = [p for p in (store.root, *store.root.parents) if not _exists(p)]  # folders this session creates
    try:
        with locked(store, wait=wait, log=log):
            claim_identity(store, spec_path, resolved, log=log)
            store.prepare()
            yield store
    except BaseException:
        if new:
            _remove_if_unused(store, new)
        raise


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, say: reported when the folder is made
        return False


def _remove_if_unused(store: Store, new: list[Path]) -> None:
    """Undo the folders a session created when it failed before writing anything into them."""
    try:
        if any(p.name not in (L.LOCK, L.JOURNAL) for p in store.root.iterdir() if p != store.stage_dir) or any(store.stage_dir.iterdir()):
            return
        store.stage_dir.rmdir()
        for name in (L.LOCK, L.JOURNAL):  # the store folder is new: these are this session's
            (store.root / name).unlink(missing_ok=True)
        for folder in new:
            folder.rmdir()
    except OSError:
        pass


def plan_ids(store: Store) -> set[str] | None:
    """The stage ids of the plan ``index.h5`` records, or None when it records none."""
    try:
        rows = json.loads(store.index_attrs().get(L.A_PLAN) or "null")
    except (OSError, UnicodeDecodeError, ValueError, TypeError):
        return None
    if not isinstance(rows, list):
        return None
    return {str(r["id"]) for r in rows if isinstance(r, dict) and "id" in r}


def stale_stage_ids(store: Store) -> list[str]:
    """Stages in ``stages/`` that the recorded plan does not name: left by earlier versions of the spec."""
    planned = plan_ids(store)
    if planned is None:
        return []
    return [sid for sid in store.stage_ids() if sid not in planned]


def collect_stale(store: Store, *, wait: bool = False, log: LogFn = _quiet) -> list[Path]:
    """Move stale stages into ``stages/stale/`` (never deleting); returns where they went."""
    if not _h5_attrs_have(store.index_path, L.A_FORMAT_VERSION):  # never lock (and so mark) a folder that is not a store
        raise StoreError(f"{store.root}: not a store with a plan (no readable {L.INDEX} of a store); nothing is stale")
    store.refuse_links()
    with locked(store, wait=wait, log=log):
        if plan_ids(store) is None:
            raise StoreError(f"{store.index_path}: no readable plan; run its spec once to record one")
        moved = []
        for sid in stale_stage_ids(store):
            dest = store.move_aside(store.stage_path(sid), L.STALE)
            log(f"stale   {sid} moved to {dest}")
            moved.append(dest)
    return moved


#: A stage file's name, with the ``.N`` a second file of one name gets when moved aside.
_STAGE_NAME = re.compile(r"^(?P<id>[A-Za-z0-9_-]+-[0-9a-f]{16})" + re.escape(L.STAGE_SUFFIX) + r"(\.\d+)?$")


def _not_ours(path: Path) -> str | None:
    """Why ``path`` is not a stage file this tool wrote (so it must not be deleted), or None."""
    match = _STAGE_NAME.match(path.name)
    if match is None:
        return "not named like a stage file"
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    try:
        with open_h5(path) as f:
            stage_id = f.attrs.get(L.A_STAGE_ID)
    except Exception:  # h5py raises several types for a file that is not HDF5
        return "does not open as an HDF5 stage file"
    stage_id = stage_id.decode() if isinstance(stage_id, bytes) else stage_id
    if stage_id != match.group("id"):
        return "its stage_id attribute does not match its name"
    return None


def stale_files(store: Store) -> tuple[list[tuple[Path, int]], list[tuple[Path, str]]]:
    """What ``gc --delete`` would remove: stale stage files in ``stages/`` and the stage files already moved
    to ``stages/stale/``, each with its size; and the files found there it keeps, each with the reason."""
    if not _h5_attrs_have(store.index_path, L.A_FORMAT_VERSION):
        raise StoreError(f"{store.root}: not a store with a plan (no readable {L.INDEX} of a store); nothing is stale")
    store.refuse_links()
    if plan_ids(store) is None:
        raise StoreError(f"{store.index_path}: no readable plan; run its spec once to record one")
    candidates = [store.stage_path(sid) for sid in stale_stage_ids(store)]
    aside = store.stage_dir / L.STALE
    if aside.is_dir() and not aside.is_symlink():
        candidates += sorted(aside.iterdir())
    remove: list[tuple[Path, int]] = []
    keep: list[tuple[Path, str]] = []
    for path in candidates:
        why = _not_ours(path)
        if why is None:
            remove.append((path, path.stat().st_size))
        else:
            keep.append((path, why))
    return remove, keep


def delete_stale(store: Store, paths: list[Path], *, wait: bool = False, log: LogFn = _quiet) -> int:
    """Delete those of ``paths`` (from :func:`stale_files`) that are still stale stage files this tool wrote,
    under the writer's lock; returns the bytes freed. A path that changed since it was listed is kept."""
    freed = 0
    with locked(store, wait=wait, log=log):
        remove, _ = stale_files(store)
        allowed = {path: size for path, size in remove}
        for path in paths:
            if path not in allowed:
                log(f"kept    {path}: no longer a stale stage file")
                continue
            try:
                path.unlink()
            except OSError as exc:
                raise write_failed(path, exc) from None
            freed += allowed[path]
            log(f"deleted {path}")
    return freed
