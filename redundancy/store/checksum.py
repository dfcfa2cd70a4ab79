"""What a stage file's ``checksum`` attribute is, and which stage files this process has verified.

Every stage file carries a ``checksum`` attribute (:func:`content_checksum`), so
a stage counts as done only when its file still holds what was written. Version
0.1 stage files have no checksum and are accepted when their sizes are.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any

import h5py
import numpy as np

from redundancy.store import bounds
from redundancy.store import layout as L


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


#: The problem (None for none) each stage file verified in this process had, by what identifies its
#: content on disk (a file rewritten or edited has another size, mtime, ctime or inode) and the read limit.
VERIFIED: dict[tuple[Any, ...], str | None] = {}
CHECKSUM_MISMATCH = "does not match its checksum (its content changed after it was written)"


def content_key(st: os.stat_result, stage_id: str) -> tuple[Any, ...]:
    return (stage_id, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, bounds.read_limit())


def content_problem(f: h5py.File) -> str | None:
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

