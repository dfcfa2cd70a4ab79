"""The ``show --json`` document: one typed owner of its shape.

A :class:`Document` is a store as ``redundancy show --json`` prints it: its
spec, a :class:`RunEntry` per run and a :class:`StudyEntry` per study of the
current plan (each with its status), stages the plan no longer names apart in
``stale``, files of ``stages/`` that are no stage at all in ``unreadable``, and
one line per problem. :meth:`Document.to_json` renders the JSON shape (key
order included) that scripts read; every reader in this package and above uses
the typed fields instead of walking that shape by string keys.
:meth:`Document.from_json` reads the shape back (a saved ``show --json``, or a
hand-made document in a test), tolerating missing keys.

A study's summary and curves stay as stored (the nested JSON the summary tables
show); :meth:`StudyEntry.results` decodes them into the kind's typed results
(:mod:`redundancy.store.results`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redundancy.store import layout as L
from redundancy.store import results as R
from redundancy.store.listing import complete, raw_curves, raw_summary, read_store
from redundancy.store.records import DONE, StageRecord, StoreReading
from redundancy.store.tensors import study_results

#: A run's headline fields, as the document lists them (None for a stage that is not done).
RUN_FIELDS = (
    L.A_MODEL, L.A_WIDTH, L.A_DATASET, L.A_DATA_SOURCE, L.A_OFFLINE_SUBSET, L.A_SEED, L.A_ITERATIONS,
    L.A_BEST_ITERATION, L.A_TEST_ACCURACY, L.A_TEST_ACCURACY_AT_BEST, L.A_BEST_VAL_LOSS, L.A_DEVICE, L.A_CREATED,
)


def _text(data: Mapping[str, Any], key: str) -> str:
    """A text field of a document read back, as the readers always took it (``str`` of whatever is there)."""
    return str(data.get(key))


def _marks(error: str, stale: bool, notes: list[str]) -> dict[str, Any]:
    """The optional fields every entry carries when they say something."""
    out: dict[str, Any] = {}
    if error:
        out["error"] = error
    if stale:
        out["stale"] = True
    if notes:
        out["notes"] = list(notes)
    return out


@dataclass
class RunEntry:
    """A train stage as the document lists it: id, name, status (and error), headline fields, grid point."""

    id: str
    name: str
    status: str
    grid_point: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    stale: bool = False
    notes: list[str] = field(default_factory=list)
    #: :data:`RUN_FIELDS` by name, as stored (a stage that is not done serves no number, whatever its file says).
    fields: dict[str, Any] = field(default_factory=dict)
    data_contract: Any = None  # imported runs only

    @property
    def done(self) -> bool:
        return self.status == DONE

    def value(self, name: str) -> Any:
        """One of :data:`RUN_FIELDS` (None when not done or not recorded)."""
        return self.fields.get(name)

    @property
    def model(self) -> Any:
        return self.value(L.A_MODEL)

    @property
    def dataset(self) -> Any:
        return self.value(L.A_DATASET)

    @property
    def seed(self) -> Any:
        return self.value(L.A_SEED)

    @property
    def offline_subset(self) -> Any:
        return self.value(L.A_OFFLINE_SUBSET)

    @property
    def test_accuracy(self) -> Any:
        return self.value(L.A_TEST_ACCURACY)

    @classmethod
    def from_record(cls, rec: StageRecord) -> RunEntry:
        fields = {key: rec.attrs.get(key) if rec.done else None for key in RUN_FIELDS}
        contract = rec.attrs.get(L.A_DATA_CONTRACT) if rec.done else None
        return cls(rec.id, rec.run or rec.name, rec.status, rec.grid_point, rec.error, rec.stale, list(rec.notes), fields, contract)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunEntry:
        fields = {key: data[key] for key in RUN_FIELDS if key in data}
        return cls(_text(data, "id"), _text(data, "name"), _text(data, "status"), data.get("grid_point") or {},
                   str(data.get("error") or ""), bool(data.get("stale")), list(data.get("notes") or []), fields,
                   data.get(L.A_DATA_CONTRACT))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "status": self.status, "grid_point": self.grid_point}
        out |= _marks(self.error, self.stale, self.notes)
        out |= {key: self.fields.get(key) for key in RUN_FIELDS}
        if self.data_contract is not None:
            out[L.A_DATA_CONTRACT] = self.data_contract
        return out


@dataclass
class StudyEntry:
    """A study stage as the document lists it: what it studied, its status, its config, summary and curves as stored."""

    id: str
    kind: str
    name: str
    run: str
    run_id: str | None
    status: str
    grid_point: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    stale: bool = False
    notes: list[str] = field(default_factory=list)
    curves: dict[str, Any] | None = None  # None: left out of the document (``curves=False``)
    record: StageRecord | None = field(default=None, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.status == DONE

    @property
    def label(self) -> str:
        """``<run>/<name>``, how the tables name a study."""
        return f"{self.run}/{self.name}"

    def results(self) -> R.Results:
        """The typed results (:mod:`redundancy.store.results`): read from the stage when the entry came from
        a store (raises :class:`~redundancy.store.attrs.ReadError`), else decoded from the summary and curves."""
        if self.record is not None:
            return study_results(self.record)
        return R.decode(self.kind, self.summary, self.curves or {}, self.config)

    @classmethod
    def from_record(cls, rec: StageRecord, *, curves: bool = True) -> StudyEntry:
        return cls(
            rec.id, rec.study_kind, rec.name, rec.run, rec.run_id or None, rec.status, rec.grid_point,
            rec.config if rec.done else {}, raw_summary(rec) if rec.done else {}, rec.error, rec.stale, list(rec.notes),
            (raw_curves(rec) if rec.done else {}) if curves else None, rec,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StudyEntry:
        run_id = data.get("run_id")
        return cls(
            _text(data, "id"), _text(data, "kind"), _text(data, "name"), _text(data, "run"),
            None if run_id is None else str(run_id), _text(data, "status"), data.get("grid_point") or {},
            data.get("config") or {}, data.get("summary") or {}, str(data.get("error") or ""), bool(data.get("stale")),
            list(data.get("notes") or []), data.get("curves"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "name": self.name, "run": self.run, "run_id": self.run_id,
            "status": self.status, "grid_point": self.grid_point, "config": self.config, "summary": self.summary,
        }
        out |= _marks(self.error, self.stale, self.notes)
        if self.curves is not None:
            out["curves"] = self.curves
        return out


Entry = RunEntry | StudyEntry


def entry_from_json(data: Mapping[str, Any]) -> Entry:
    """A run's or a study's entry read back: a study names its ``kind``."""
    return StudyEntry.from_json(data) if "kind" in data else RunEntry.from_json(data)


@dataclass(frozen=True)
class Unreadable:
    """A file of ``stages/`` that is no stage at all, with why."""

    id: str
    path: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "error": self.error}


@dataclass
class Document:
    """One store as ``show --json`` prints it. ``grid`` and ``comparisons`` are filled in by the layers
    that compute them (the grid summary, the comparison of arms across networks), as plain JSON data."""

    store: str
    spec: dict[str, Any] = field(default_factory=dict)
    index_error: str | None = None
    runs: list[RunEntry] = field(default_factory=list)
    studies: list[StudyEntry] = field(default_factory=list)
    stale: list[Entry] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    mixed_environments: list[str] = field(default_factory=list)
    grid: dict[str, Any] | None = None
    comparisons: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, reading: StoreReading, *, curves: bool = True) -> Document:
        """The document of a store as read (every stage completed first, so problems are known)."""
        for rec in reading.stages:
            complete(rec)
        stale: list[Entry] = [
            RunEntry.from_record(s) if s.stage_kind == L.KIND_TRAIN else StudyEntry.from_record(s, curves=False)
            for s in reading.stages if s.stale and s.stage_kind in (L.KIND_TRAIN, L.KIND_STUDY)
        ]
        return cls(
            store=str(reading.root),
            spec=reading.spec,
            index_error=reading.index_error or None,
            runs=[RunEntry.from_record(r) for r in reading.runs() if not r.stale],
            studies=[StudyEntry.from_record(s, curves=curves) for s in reading.studies() if not s.stale],
            stale=stale,
            unreadable=[Unreadable(s.id, str(s.path), s.error) for s in reading.unplaced()],
            problems=reading.problems(),
            mixed_environments=[m.line() for m in reading.environment_mixes()],
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Document:
        """A document read back from its JSON shape; missing keys are empty."""
        return cls(
            store=str(data.get("store", "")),
            spec=data.get("spec") or {},
            index_error=data.get("index_error"),
            runs=[RunEntry.from_json(r) for r in data.get("runs", [])],
            studies=[StudyEntry.from_json(s) for s in data.get("studies", [])],
            stale=[entry_from_json(s) for s in data.get("stale") or []],
            unreadable=[Unreadable(_text(u, "id"), _text(u, "path"), _text(u, "error")) for u in data.get("unreadable") or []],
            problems=list(data.get("problems") or []),
            mixed_environments=list(data.get("mixed_environments") or []),
            grid=data.get("grid"),
            comparisons=data.get("comparisons"),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``show --json`` shape (plain data; :func:`strict_json` writes it)."""
        out: dict[str, Any] = {
            "store": self.store,
            "spec": self.spec,
            "index_error": self.index_error,
            "runs": [r.to_json() for r in self.runs],
            "studies": [s.to_json() for s in self.studies],
            "stale": [s.to_json() for s in self.stale],
            "unreadable": [u.to_json() for u in self.unreadable],
            "problems": list(self.problems),
            "mixed_environments": list(self.mixed_environments),
        }
        if self.grid is not None:
            out["grid"] = self.grid
        if self.comparisons is not None:
            out["comparisons"] = self.comparisons
        return out

    def run_points(self) -> dict[str, dict[str, Any]]:
        """Each run's grid point by run name (a study without its own point takes its run's)."""
        return {r.name: r.grid_point for r in self.runs}

    def runs_by_id(self) -> dict[str, RunEntry]:
        return {r.id: r for r in self.runs}


def as_document(doc: Document | Mapping[str, Any]) -> Document:
    """``doc`` typed: a :class:`Document` as it is, its JSON shape read back."""
    return doc if isinstance(doc, Document) else Document.from_json(doc)


def as_study_entries(entries: Iterable[StudyEntry | Mapping[str, Any]]) -> list[StudyEntry]:
    """Study entries typed: each :class:`StudyEntry` as it is, each JSON entry read back."""
    return [e if isinstance(e, StudyEntry) else StudyEntry.from_json(e) for e in entries]


def load_document(root: Path | str, *, curves: bool = True) -> Document:
    """The :class:`Document` of the store at ``root``."""
    return Document.of(read_store(root), curves=curves)


def document(reading: StoreReading, *, curves: bool = True) -> dict[str, Any]:
    """The ``show --json`` shape of one store (:meth:`Document.to_json` of :meth:`Document.of`)."""
    return Document.of(reading, curves=curves).to_json()


def read_document(root: Path | str, *, curves: bool = True) -> dict[str, Any]:
    """:func:`document` of the store at ``root``."""
    return document(read_store(root), curves=curves)


def run_entry(rec: StageRecord) -> dict[str, Any]:
    """A train stage's entry in the JSON shape (:meth:`RunEntry.to_json`)."""
    return RunEntry.from_record(rec).to_json()


def study_entry(rec: StageRecord, *, curves: bool = True) -> dict[str, Any]:
    """A study stage's entry in the JSON shape (:meth:`StudyEntry.to_json`)."""
    return StudyEntry.from_record(rec, curves=curves).to_json()


def strict_json(value: Any, **kwargs: Any) -> str:
    """JSON text any parser accepts: NaN and infinities become ``null``."""
    return json.dumps(R.strict(_plain(value)), allow_nan=False, **kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
