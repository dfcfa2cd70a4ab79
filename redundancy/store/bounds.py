"""How much a reader of a store agrees to read: declared sizes are checked before any byte is read.

An HDF5 dataset declares its shape and type before a byte of it is read, and
a compressed one may declare far more than its file holds: a 10 MB stage file
can declare 300 million elements per metric, gigabytes once read (a
decompression bomb). So every reader (the checksum included) first checks each
dataset it is about to read against

- the limit its stage's kind sets, where the kind sets one: a training's metric
  series holds one entry per evaluation, at most ``iterations + 1``;
- a cap on the bytes one read brings into memory, for one dataset and for one
  compressed chunk (the least HDF5 decompresses at once):
  ``REDUNDANCY_READ_LIMIT`` (bytes, or with a K, M, G or T suffix), 1 GiB by
  default, far above anything the tool writes (the largest checkpoint matrix of
  the shipped models is a few MB).

The writer holds itself to the same cap, so a store never holds a dataset its
readers refuse. A dataset over its limit is one line naming it, what it
declares and the limit; nothing of it is read.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from redundancy.errors import StoreError
from redundancy.store import layout as L

READ_LIMIT_ENV = "REDUNDANCY_READ_LIMIT"
DEFAULT_READ_LIMIT = 1 << 30
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


class ReadLimitError(StoreError):
    """``REDUNDANCY_READ_LIMIT`` holds something that is not a size."""

    exit_code = 2


def read_limit() -> int:
    """The most bytes one read of a store brings into memory (``REDUNDANCY_READ_LIMIT``, 1 GiB by default)."""
    raw = os.environ.get(READ_LIMIT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_READ_LIMIT
    m = _SIZE.match(raw)
    if not m or int(m.group(1)) == 0:
        raise ReadLimitError(f"{READ_LIMIT_ENV}={raw!r} is not a size in bytes (e.g. 1073741824, 512M or 4G)")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def size_text(n: int) -> str:
    """``2.4 GB`` (decimal units, as file managers show sizes)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def declared_bytes(dset: h5py.Dataset) -> int:
    """The bytes ``dset`` declares (shape times item size); nothing is read."""
    shape = dset.shape or ()
    return math.prod(int(n) for n in shape) * dset.dtype.itemsize


def _int(value: Any) -> int | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)) and value >= 0:
        return int(value)
    return None


@dataclass(frozen=True)
class Limits:
    """What may be read from one file: the byte cap and, for a training stage, its metric length."""

    cap: int
    metric_entries: int | None = None  # a training's metric series: one entry per evaluation

    def problem(self, dset: h5py.Dataset) -> str | None:
        """Why ``dset`` is not read (one line), or None when its declared size is within its limits."""
        name = dset.name.lstrip("/")
        shape = tuple(int(n) for n in dset.shape or ())
        size = declared_bytes(dset)
        if self.metric_entries is not None and name.startswith(f"{L.METRICS}/"):
            entries = math.prod(shape)
            if len(shape) > 1:
                return f"dataset {name!r} declares shape {shape}; a training's metric is one series (not read)"
            if entries > self.metric_entries:
                return (f"dataset {name!r} declares {entries} entries; a training of "
                        f"{self.metric_entries - 1} iterations records at most {self.metric_entries} (not read)")
        if size > self.cap:
            return (f"dataset {name!r} declares {size_text(size)} ({dset.dtype} of shape {shape}), over the "
                    f"{size_text(self.cap)} a reader reads at once (not read; {READ_LIMIT_ENV} sets the limit)")
        chunk = math.prod(int(n) for n in dset.chunks or ()) * dset.dtype.itemsize if dset.chunks else 0
        if chunk > self.cap:
            return (f"dataset {name!r} declares chunks of {size_text(chunk)}, over the {size_text(self.cap)} "
                    f"a reader reads at once (not read; {READ_LIMIT_ENV} sets the limit)")
        return None


def file_limits(f: h5py.File) -> Limits:
    """The limits of an open file: the cap, and for a training stage the length of its metric series
    (read from its ``stage_kind`` and ``iterations`` attributes)."""
    attrs: dict[str, Any] = {}
    for name in (L.A_STAGE_KIND, L.A_ITERATIONS):
        try:
            attrs[name] = f.attrs[name]
        except (KeyError, OSError, TypeError, ValueError):
            pass
    kind = attrs.get(L.A_STAGE_KIND)
    if isinstance(kind, bytes):
        kind = kind.decode("utf-8", "replace")
    iterations = _int(attrs.get(L.A_ITERATIONS)) if kind == L.KIND_TRAIN else None
    return Limits(read_limit(), iterations + 1 if iterations is not None else None)


def file_problem(f: h5py.File, limits: Limits | None = None) -> str | None:
    """The first dataset of ``f`` (in name order) over its limits, as one line; None when all are within.

    Metadata only; the datasets are those the checksum reads (external and soft links not followed)."""
    limits = limits or file_limits(f)
    found: list[h5py.Dataset] = []
    f.visititems(lambda name, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
    for dset in sorted(found, key=lambda d: d.name):
        problem = limits.problem(dset)
        if problem is not None:
            return problem
    return None
