"""The HDF5 store: one folder per spec, one HDF5 file per finished stage.

The layout (every folder, file, path and attribute name) is
:mod:`redundancy.store.layout`'s and is documented for h5py / h5web / HDFView
users in ``docs/store.md``. Files are written atomically, journaled and only
inside the store (:mod:`redundancy.store.folders`). No pickles: tensors are
datasets, configs and summaries are JSON text attributes.

Every stage file carries a ``checksum`` attribute
(:func:`redundancy.store.checksum.content_checksum`), so a stage counts as done
only when its file is a regular file in ``stages/`` that opens, names itself
and still holds what was written. Anything else is moved aside to
``stages/broken/`` and recomputed; a stage that ``gc`` moved to
``stages/stale/`` and the plan names again is moved back when its file passes
the same checks. Version 0.1 stage files have no checksum and are accepted when
the rest holds.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.errors import StoreError, StoreWriteError
from redundancy.store import bounds
from redundancy.store import layout as L
from redundancy.store.attrs import open_h5, read_attrs
from redundancy.store.checksum import CHECKSUM_MISMATCH, VERIFIED, content_checksum, content_key, content_problem
from redundancy.store.folders import StoreFolder, _is_tensor, _lexists, now_iso, os_reason, to_json, write_failed
from redundancy.store.layout import FORMAT_VERSION, INDEX, STAGES

__all__ = [
    "CHECKSUM_MISMATCH", "FORMAT_VERSION", "INDEX", "STAGES", "StageInfo", "Store", "content_checksum", "now_iso",
    "open_h5", "os_reason", "read_attrs", "to_json", "write_failed",
]


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



class Store(StoreFolder):
    """A store folder: write finished stages atomically, list and read them back."""

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
        key = content_key(st, stage_id)
        if read is None and checksum and key in VERIFIED:
            return VERIFIED[key]
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
                    problem = content_problem(f)
                    VERIFIED[key] = problem
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
        return VERIFIED.get(content_key(st, stage_id))

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
            VERIFIED[content_key(final.lstat(), stage_id)] = None
        except OSError:
            pass
        return final

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
            return read_attrs(f, strict=True)[0]

    def stages(self) -> list[StageInfo]:
        """Every finished stage, attributes only, sorted by creation time."""
        out = []
        if not self.stage_dir.is_dir():
            return out
        for path in sorted(self.stage_dir.glob(f"*{L.STAGE_SUFFIX}")):
            try:
                with open_h5(path) as f:
                    out.append(StageInfo(path, read_attrs(f, strict=True)[0]))
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
            return StageInfo(path, read_attrs(f, strict=True)[0])

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


