"""The HDF5 store: one folder per spec, one HDF5 file per finished stage.

The layout (every folder, file, path and attribute name) is
:mod:`redundancy.store.layout`'s and is documented for h5py / h5web / HDFView
users in ``docs/store.md``.

A stage file is written under a temporary name in the same folder, flushed,
fsync'ed and renamed into place with ``os.replace``: a reader sees either no
file or a complete one, and a writer killed with SIGKILL at any moment leaves
only a stray ``*.tmp`` that the next run removes. ``index.h5`` is rebuilt the
same way after every stage. No pickles: tensors are datasets, configs and
summaries are JSON text attributes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.errors import StoreError
from redundancy.store import layout as L
from redundancy.store.layout import FORMAT_VERSION, INDEX, STAGES

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


class Store:
    """A store folder: write finished stages atomically, list and read them back."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    # --- paths ------------------------------------------------------------------------------
    @property
    def stage_dir(self) -> Path:
        return self.root / STAGES

    def stage_path(self, stage_id: str) -> Path:
        return self.stage_dir / L.stage_file(stage_id)

    @property
    def index_path(self) -> Path:
        return self.root / INDEX

    def exists(self) -> bool:
        return self.index_path.exists() or self.stage_dir.is_dir()

    def has(self, stage_id: str) -> bool:
        return self.stage_path(stage_id).exists()

    # --- writing ----------------------------------------------------------------------------
    def clean_temporaries(self) -> int:
        """Remove files a killed writer left behind; returns how many."""
        removed = 0
        for folder in (self.root, self.stage_dir):
            if folder.is_dir():
                for tmp in folder.glob(f"*{L.TMP_SUFFIX}"):
                    tmp.unlink(missing_ok=True)
                    removed += 1
        return removed

    @contextmanager
    def _atomic(self, final: Path) -> Iterator[h5py.File]:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(L.tmp_name(final.name, os.getpid()))
        try:
            with h5py.File(tmp, "w", libver="latest") as f:
                yield f
                f.flush()
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def write_stage(self, stage_id: str, attrs: dict[str, Any], tensors: dict[str, Any]) -> Path:
        """Write one stage file: ``attrs`` on the root, ``tensors`` as datasets at their paths."""
        final = self.stage_path(stage_id)
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
                compression = "gzip" if arr.size >= 4096 and arr.dtype == np.uint8 else None
                f.create_dataset(path, data=arr, compression=compression)
        return final

    def write_index(self, attrs: dict[str, Any], links: dict[str, str]) -> None:
        """Rebuild ``index.h5``: ``links`` maps a path in the index to a stage id (external link)."""
        with self._atomic(self.index_path) as f:
            f.attrs[L.A_FORMAT_VERSION] = FORMAT_VERSION
            for key, value in attrs.items():
                if value is not None:
                    f.attrs[key] = _attr(value)
            for path, stage_id in sorted(links.items()):
                if self.has(stage_id):
                    f[path] = h5py.ExternalLink(L.stage_link_target(stage_id), "/")

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

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    out[(base.name.rstrip("/") + "/" + name)[len(prefix):]] = obj[()]

            base.visititems(visit)
        return out


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
