"""Stale stages: files in ``stages/`` that the recorded plan no longer names (left by earlier versions
of the spec), moved aside by ``gc`` and deleted only by ``gc --delete``.

Nothing here deletes on its own: :func:`collect_stale` moves stale stages into ``stages/stale/``.
Only ``gc --delete``, after the user confirms the list it printed, removes stale stage files
(:func:`delete_stale`), and only files this tool wrote: regular files named like a stage whose
``stage_id`` attribute is that name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from redundancy.errors import StoreError
from redundancy.store import layout as L
from redundancy.store.attrs import file_has_attr, open_h5
from redundancy.store.files import Store, write_failed
from redundancy.store.lock import LogFn, _quiet, locked

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
    if not file_has_attr(store.index_path, L.A_FORMAT_VERSION):  # never lock (and so mark) a folder that is not a store
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
    if not file_has_attr(store.index_path, L.A_FORMAT_VERSION):
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
