"""Reading a stage's tensors and typed results, on request.

No dataset is read before its stage is verified (:func:`redundancy.store.listing.complete`) and
its declared size is checked against :mod:`redundancy.store.bounds` (a compressed dataset may
declare gigabytes in a file of a few MB): one over its limit is a :class:`ReadError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.store import bounds
from redundancy.store import layout as L
from redundancy.store import results as R
from redundancy.store.attrs import ReadError, one_line, open_checked, parse_json, resolve

from redundancy.store.listing import complete
from redundancy.store.records import DONE, StageRecord

A_RESULTS = L.A_RESULTS


def study_results(rec: StageRecord) -> R.Results:
    """The typed results of a done study stage (:mod:`redundancy.store.results`).

    Raises :class:`ReadError` when an attribute does not parse or does not have the schema's shape."""
    attrs = complete(rec).attrs
    if rec.status != DONE:
        raise ReadError(rec.error)
    try:
        plain = parse_json(attrs, A_RESULTS)
        summary = parse_json(attrs, L.A_SUMMARY, {})
        curves = parse_json(attrs, L.A_CURVES, {})
        return R.decode(rec.study_kind, summary, curves, rec.config, plain, tensor=lambda name: _scalar_result(rec, name))
    except ValueError as exc:
        raise ReadError(f"attribute {A_RESULTS!r}: {exc}") from None


def _scalar_result(rec: StageRecord, name: str) -> Any:
    """A scalar result tensor of a study (``fc1@best/iteration``), or None when there is none."""
    try:
        with open_checked(_safe_path(rec)) as f:
            obj = resolve(f, f"{L.RESULTS}/{name}", None)
            return _Budget(f).read(obj) if isinstance(obj, h5py.Dataset) and obj.ndim == 0 else None
    except (ReadError, KeyError, OSError):
        return None


def _safe_path(rec: StageRecord) -> Path:
    """The file of a done stage, verified (:func:`complete`) before any of its tensors is read."""
    complete(rec)
    if rec.path is None or rec.status != DONE:
        raise ReadError(f"{rec.id}: {rec.status}" + (f": {rec.error}" if rec.error else ""))
    return rec.path


class _Budget:
    """One call's reads from one open file: each dataset within its declared-size limits
    (:mod:`redundancy.store.bounds`), all of them together within the byte cap, checked before reading."""

    def __init__(self, f: h5py.File):
        self.limits = bounds.file_limits(f)
        self.left = self.limits.cap

    def check(self, dset: h5py.Dataset, size: int | None = None) -> None:
        problem = self.limits.problem(dset)
        if problem is not None:
            raise ReadError(problem)
        size = bounds.declared_bytes(dset) if size is None else size
        if size > self.left:
            raise ReadError(f"the datasets asked for declare more than the {bounds.size_text(self.limits.cap)} a reader "
                            f"reads at once (at {dset.name.lstrip('/')!r}; {bounds.READ_LIMIT_ENV} sets the limit)")
        self.left -= size

    def read(self, dset: h5py.Dataset, *, last: bool = False) -> np.ndarray:
        """The whole dataset, or (``last``) its last entry along the first axis."""
        last = last and dset.ndim > 0 and dset.shape[0] > 0
        self.check(dset, bounds.declared_bytes(dset) // dset.shape[0] if last else None)
        try:
            return np.asarray(dset[dset.shape[0] - 1] if last else dset[()])
        except (OSError, ValueError, TypeError) as exc:
            raise ReadError(f"cannot read {dset.name.lstrip('/')!r}: {one_line(str(exc), 120)}") from None


def read_metrics(rec: StageRecord) -> dict[str, np.ndarray]:
    """A train stage's metric series (small 1-D datasets), for the training curves."""
    path = _safe_path(rec)
    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        try:
            group = resolve(f, L.METRICS, None)
        except ReadError:
            raise ReadError("train stage without metrics") from None
        if not isinstance(group, h5py.Group):
            raise ReadError("train stage without metrics")
        budget = _Budget(f)
        for name in group:
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue
            obj = group[name]
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1:
                out[name] = budget.read(obj)
    return out


def dataset_names(rec: StageRecord, group: str) -> list[str]:
    """Paths, relative to ``group`` of a stage, of the datasets under it (no data read; links not followed)."""
    path = _safe_path(rec)
    names: list[str] = []
    with open_checked(path) as f:
        try:
            base = resolve(f, group, None)
        except ReadError:
            return names
        if isinstance(base, h5py.Group):
            base.visit_links(lambda n: names.append(n) if isinstance(base.get(n, getlink=True), h5py.HardLink) and isinstance(base[n], h5py.Dataset) else None)
    return names


def read_tensors(rec: StageRecord, group: str, names: Iterable[str], *, last: bool = False) -> dict[str, np.ndarray]:
    """Datasets ``group/<name>`` of a stage (``last``: only the last entry along the first axis)."""
    path = _safe_path(rec)
    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        budget = _Budget(f)
        for name in names:
            obj = resolve(f, f"{group}/{name}", None)
            if not isinstance(obj, h5py.Dataset):
                raise ReadError(f"{group}/{name} is not a dataset")
            out[name] = budget.read(obj, last=last)
    return out


def metric_tensor_names() -> tuple[str, str, str]:
    """The groups a tensor name may be looked up in: a study's results, a run's metrics and checkpoints."""
    return L.RESULTS, L.METRICS, L.CHECKPOINTS


def read_tensor(rec: StageRecord, name: str) -> np.ndarray:
    """One dataset of a stage by name: a study's result path (``fc1/iteration``), a run's metric
    (``test_accuracy``), a checkpoint parameter (``<iteration>/<parameter>``), or a full path."""
    path = _safe_path(rec)
    with open_checked(path) as f:
        for candidate in (name, *(f"{g}/{name}" for g in metric_tensor_names())):
            try:
                obj = resolve(f, candidate, None)
            except (ReadError, KeyError):
                continue
            if isinstance(obj, h5py.Dataset):
                return _Budget(f).read(obj)
    raise ReadError(f"{rec.id}: no dataset {name!r}")


def checkpoint_params(rec: StageRecord, iteration: int) -> dict[str, np.ndarray]:
    """Every parameter of a train stage's checkpoint at ``iteration``."""
    path = _safe_path(rec)
    out: dict[str, np.ndarray] = {}
    with open_checked(path) as f:
        group = resolve(f, L.checkpoint_group(iteration), None)
        budget = _Budget(f)
        for name in group:
            obj = group[name]
            if isinstance(obj, h5py.Dataset):
                out[name] = budget.read(obj)
    return out


def checkpoint_iterations(rec: StageRecord) -> list[int]:
    value = rec.json(L.A_CHECKPOINT_ITERATIONS, [])
    return [int(v) for v in value] if isinstance(value, list) else []

