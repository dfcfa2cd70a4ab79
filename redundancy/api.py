"""The Python API: stores as pandas DataFrames and numpy arrays, without torch.

>>> import redundancy
>>> s = redundancy.open_store("store/quickstart")        # a store, or a folder of stores
>>> s.runs                                                # one row per run: status, headline numbers, grid axes
>>> s.curves("pruning")                                   # one row per curve point
>>> s.tensor("run/pruning", "fc1@best/random/accuracy")   # a stored tensor

Everything is read through :mod:`redundancy.store.reader`: a stage that
cannot be read is a row with status ``unreadable`` and its one-line ``error``,
never an exception, and curves come from the typed results
(:mod:`redundancy.store.results`), whatever version wrote the store. A stage
is verified against its checksum the first time its numbers are read (the
tables, :meth:`StoreSet.results`, :meth:`StoreSet.tensor`); one whose content
changed is a row with status ``corrupt``, and its tensors are not served.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from redundancy.errors import RedundancyError
from redundancy.store import reader as RD
from redundancy.store.results import Results, key_fields

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StoreSet", "open_store"]


class NoSuchStage(RedundancyError):
    """A run or study name that names no stage, or several."""


def _axes(point: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in (point or {}).items()}


class StoreSet:
    """One store or every store of a folder, read once (call :func:`open_store` again to re-read)."""

    def __init__(self, readings: list[RD.StoreReading]):
        self.readings = readings

    def __repr__(self) -> str:
        return f"StoreSet({', '.join(str(r.root) for r in self.readings)})"

    @property
    def problems(self) -> list[str]:
        """One line per thing that could not be read (index files, stage files)."""
        return [p for r in self.readings for p in r.problems()]

    # --- tables ---------------------------------------------------------------------------------
    @property
    def runs(self) -> pd.DataFrame:
        """One row per run: store, run, stage id, status, error, stale (left by an earlier version of the
        spec), the grid axes, then its headline numbers."""
        import pandas as pd

        rows = []
        for r in self.readings:
            for rec in r.runs():
                entry = RD.run_entry(RD.complete(rec))
                row = {"store": r.name, "run": rec.run, "id": rec.id, "status": rec.status, "error": rec.error or None,
                       "stale": rec.stale, **_axes(rec.grid_point)}
                row.update({k: entry.get(k) for k in RD.RUN_FIELDS})
                rows.append(row)
        return pd.DataFrame(rows, columns=_columns(rows, ["store", "run", "id", "status", "error", "stale"]))

    @property
    def studies(self) -> pd.DataFrame:
        """One row per study stage: store, run, study, kind, stage id, status, error, stale, ``weights``
        (the checkpoints it read, each with its iteration: ``best (iteration 500)``), grid axes, then
        every scalar of its summary: numbers as ``a/b`` columns (the headline ones, which ``show``
        lines up by grid point, first), top-level text such as ``layer`` as it is."""
        import pandas as pd

        from redundancy.grid import flatten_numbers, headline_numbers
        from redundancy.present.format import weights_label

        rows = []
        for r in self.readings:
            runs = {rec.id: rec.attrs for rec in r.runs()}
            for rec in r.studies():
                RD.complete(rec)
                row = {"store": r.name, "run": rec.run, "study": rec.name, "kind": rec.study_kind, "id": rec.id,
                       "status": rec.status, "error": rec.error or None, "stale": rec.stale,
                       "weights": weights_label(rec.config, runs.get(rec.run_id, {})), **_axes(rec.grid_point)}
                if rec.done:
                    summary = RD.raw_summary(rec)
                    row.update(headline_numbers(rec.study_kind, summary))
                    row.update({k: v for k, v in flatten_numbers(summary).items() if k not in row})
                    row.update({k: v for k, v in summary.items() if isinstance(v, str) and k not in row})
                rows.append(row)
        return pd.DataFrame(rows, columns=_columns(rows, ["store", "run", "study", "kind", "id", "status", "error", "stale", "weights"]))

    def curves(self, kind: str) -> pd.DataFrame:
        """Every curve point of the done studies of ``kind``, tidy: one row per (curve, series, point).

        Columns: store, run, study, id, stale (a study left by an earlier version of the spec: filter
        on it to keep the current plan's curves), the grid axes, the kind's key fields (layer, checkpoint,
        criterion ... see ``docs/results.md``), ``curve_x`` (the x axis's name), ``x``, ``series``, ``y``.
        """
        import pandas as pd

        rows = []
        for r in self.readings:
            for rec in r.studies():
                if rec.study_kind != kind or not RD.complete(rec).done:
                    continue
                try:
                    results = RD.study_results(rec)
                except RD.ReadError:
                    continue
                base = {"store": r.name, "run": rec.run, "study": rec.name, "id": rec.id, "stale": rec.stale, **_axes(rec.grid_point)}
                for c in results.curves:
                    xs = c.xs
                    for name, ys in c.ys().items():
                        for i, y in enumerate(ys):
                            rows.append({**base, **c.key, "curve_x": c.x, "x": xs[i] if i < len(xs) else None, "series": name, "y": y})
        front = ["store", "run", "study", "id", "stale"]
        back = ["curve_x", "x", "series", "y"]
        middle = [c for c in _columns(rows, front) if c not in back]
        for f in key_fields(kind):
            if f not in middle:
                middle.append(f)
        frame = pd.DataFrame(rows, columns=[*middle, *back])
        frame["y"] = pd.to_numeric(frame["y"], errors="coerce")
        return frame

    # --- single stages ----------------------------------------------------------------------------
    def stage(self, run_or_study: str) -> RD.StageRecord:
        """A stage by id, by run name (its train stage) or by ``run/study``; in a folder of stores
        ``store:run/study`` picks the store."""
        store, _, name = run_or_study.rpartition(":") if ":" in run_or_study else ("", "", run_or_study)
        found = []
        for r in self.readings:
            if store and r.name != store:
                continue
            for rec in r.stages:
                label = rec.run if rec.stage_kind == "train" else f"{rec.run}/{rec.name}"
                if name in (rec.id, label):
                    found.append((r, rec))
        if not found:
            raise NoSuchStage(f"no run or study {run_or_study!r} in {', '.join(str(r.root) for r in self.readings)}")
        if len(found) > 1:
            raise NoSuchStage(f"{run_or_study!r} names {len(found)} stages; name one as store:run/study or by id: "
                              + ", ".join(f"{r.name}:{rec.id}" for r, rec in found))
        return found[0][1]

    def results(self, study: str) -> Results:
        """The typed results of one study (:class:`redundancy.store.results.Results`)."""
        return RD.study_results(self._done(study))

    def tensor(self, run_or_study: str, name: str) -> np.ndarray:
        """A stored tensor of a run or study: a study's result path (``fc1@best/iteration``), a run's
        metric (``test_accuracy``), a checkpoint parameter (``<iteration>/<parameter>``) or a full path."""
        return RD.read_tensor(self._done(run_or_study), name)

    def _done(self, run_or_study: str) -> RD.StageRecord:
        rec = RD.complete(self.stage(run_or_study))
        if not rec.done:
            raise NoSuchStage(f"{run_or_study} is {rec.status}" + (f": {rec.error}" if rec.error else ""))
        return rec


def _columns(rows: Iterable[dict[str, Any]], front: list[str]) -> list[str]:
    out = list(front)
    for row in rows:
        out += [k for k in row if k not in out]
    return out


def open_store(path: str | Path | Iterable[str | Path]) -> StoreSet:
    """Open a store folder, a folder of stores, or several of them, for reading as DataFrames.

    Raises :class:`redundancy.errors.RedundancyError` when no store is found; unreadable stages
    and index files are rows with status ``unreadable`` (see :attr:`StoreSet.problems`)."""
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    roots = RD.find_stores(paths)
    if not roots:
        raise NoSuchStage(f"no store under {', '.join(map(str, paths))}")
    return StoreSet([RD.read_store(root) for root in roots])
