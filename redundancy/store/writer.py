"""One writer per store: an exclusive lock, the store's identity, and moving stores and stages aside.

The lock is :mod:`redundancy.store.lock`'s; stale stages are :mod:`redundancy.store.gc`'s.

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

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from redundancy.errors import StoreError, StoreRefused
from redundancy.store import layout as L
from redundancy.store.attrs import file_has_attr
from redundancy.store.files import Store, now_iso, os_reason, write_failed
from redundancy.store.gc import collect_stale, delete_stale, plan_ids, stale_files, stale_stage_ids
from redundancy.store.lock import NO_LOCK_ENV, LogFn, WriterLock, _quiet, locked

__all__ = [
    "NO_LOCK_ENV", "WriterLock", "claim_identity", "collect_stale", "delete_stale", "is_store", "locked", "plan_ids",
    "refuse_foreign", "replace_store", "spec_digest", "stale_files", "stale_stage_ids", "store_entries", "writer_session",
]


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


def is_store(store: Store, *, look_at: int = 5) -> bool:
    """Whether ``store.root`` holds a store this tool wrote: an ``index.h5`` of this format, the tool's
    lock or journal, or a stage file in ``stages/`` (the first ``look_at`` files named like one are opened).

    A folder named ``stages/`` or a file named ``index.h5`` alone is not enough: users have those too.
    """
    root = store.root
    if any(os.path.lexists(root / name) for name in (L.LOCK, L.JOURNAL)) or file_has_attr(store.index_path, L.A_FORMAT_VERSION):
        return True
    named = [root / L.STAGES / L.stage_file(sid) for sid in store.stage_ids()[:look_at]]
    return any(file_has_attr(path, L.A_STAGE_ID) for path in named)


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
