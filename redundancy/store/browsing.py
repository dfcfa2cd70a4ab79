"""What a command line names (store folders, lone HDF5 files, problems) and HDF5 browsing for the
TUI's dataset tree: groups, attributes and previews, metadata first, links followed only inside the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.store import bounds
from redundancy.store import layout as L
from redundancy.store.attrs import ReadError, inside, one_line, open_checked, read_attrs, resolve

from redundancy.store.files import Store
from redundancy.store.listing import read_store
from redundancy.store.records import StoreReading

# Largest number of elements read for a preview; larger datasets are read strided.
PREVIEW_ELEMENTS = 1 << 20


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


def iter_readings(paths: Iterable[Path]) -> Iterator[StoreReading]:
    """A reading per store under ``paths``; a store that cannot be read at all is a reading with its error."""
    for root in find_stores(paths):
        yield read_store(root)


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
            base = resolve(f, group, root)
        except (ReadError, KeyError) as exc:
            raise ReadError(f"no group {group!r} in {path.name}" if isinstance(exc, KeyError) else str(exc)) from None
        if not isinstance(base, h5py.Group):
            raise ReadError(f"{group!r} is not a group")
        for name in base:
            child_path = f"{base.name.rstrip('/')}/{name}"
            link = base.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink) and (root is None or not inside(Path(f.filename).parent / link.filename, root)):
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
        attrs, _ = read_attrs(resolve(f, group, root))
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
            obj = resolve(f, name, root)
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

