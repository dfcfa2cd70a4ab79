"""What a figure function receives (a :class:`StageView`) and returns (blocks).

A figure function turns one finished stage into a list of blocks: figures
(matplotlib :class:`~matplotlib.figure.Figure` objects, saved by the builder)
and tables (already formatted text cells). It never writes files and never
decides where a figure goes, so adding a study kind's figures is one function
and one registry line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from redundancy.present.format import fmt
from redundancy.present.tables import summary_rows
from redundancy.present.tables import summary_tables as build_summary_tables
from redundancy.store import layout as L
from redundancy.store import reader
from redundancy.store.document import Entry, StudyEntry, entry_from_json
from redundancy.store.reader import StageRecord
from redundancy.store.results import Results


@dataclass(frozen=True)
class Provenance:
    """Where a figure's numbers come from; printed under every figure."""

    spec_name: str
    stage_id: str
    model: str
    dataset: str
    offline_subset: bool
    data_source: str
    device: str
    created: str

    @property
    def date(self) -> str:
        """``2026-11-27 00:02`` from an ISO 8601 timestamp (the stage's ``created``)."""
        if "T" in self.created:
            day, _, clock = self.created.partition("T")
            return f"{day} {clock[:5]}"
        return self.created

    @property
    def data(self) -> str:
        return f"{self.dataset} (offline subset)" if self.offline_subset else self.dataset

    def line(self) -> str:
        """One line for the footer of the figure image itself, so a copied PNG still says where it came from."""
        return f"spec {self.spec_name} · stage {self.stage_id} · {self.model} on {self.data} · {self.device} · {self.date}"


@dataclass
class FigureBlock:
    """One figure: ``key`` makes its file name unique within its stage (``fc1``, ``curves``)."""

    key: str
    title: str
    figure: Figure
    caption: str = ""


@dataclass
class TableBlock:
    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class NoteBlock:
    """A sentence the reader needs (a layer too small to fit, data a figure could not find)."""

    text: str


Block = FigureBlock | TableBlock | NoteBlock


@dataclass
class StageView:
    """One finished stage as a figure function sees it, read through the store's reader.

    ``entry`` is the stage's entry of the store's document (a
    :class:`~redundancy.store.document.RunEntry` or
    :class:`~redundancy.store.document.StudyEntry`, ``summary`` and ``curves``
    as stored; an entry of the ``show --json`` shape is read into one);
    :attr:`results` the typed results of a study;
    ``run`` is the studied run's train stage (the stage itself for a train
    stage). Tensors are read only on request, so a figure that needs only
    curves never touches the HDF5 data.
    """

    info: StageRecord
    entry: Entry
    run: StageRecord | None
    provenance: Provenance
    label: str
    _results: Results | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.entry, Mapping):
            self.entry = entry_from_json(self.entry)

    @property
    def curves(self) -> dict[str, Any]:
        return (self.entry.curves or {}) if isinstance(self.entry, StudyEntry) else {}

    @property
    def summary(self) -> dict[str, Any]:
        return self.entry.summary if isinstance(self.entry, StudyEntry) else {}

    @property
    def results(self) -> Results:
        """The study's typed results (:mod:`redundancy.store.results`)."""
        if self._results is None:
            self._results = reader.study_results(self.info)
        return self._results

    @property
    def config(self) -> dict[str, Any]:
        return self.info.config

    @property
    def model(self) -> str:
        return self.provenance.model

    def result_names(self) -> list[str]:
        """Names of the study's result tensors (no data read)."""
        return reader.dataset_names(self.info, L.RESULTS)

    def result_tensors(self, names: Iterable[str], *, last: bool = False) -> dict[str, np.ndarray]:
        """Result tensors by name (``last``: only the last entry along the first axis)."""
        return reader.read_tensors(self.info, L.RESULTS, names, last=last)

    def metrics(self) -> dict[str, np.ndarray]:
        """A train stage's metric series."""
        return reader.read_metrics(self.info)


FigureFn = Callable[[StageView], list[Block]]


# --- helpers shared by the figure modules -------------------------------------------------------




def table_blocks(summary: Mapping[str, Any], title: str, caption: str = "") -> list[TableBlock]:
    """A study's summary (nested JSON) as tables a reader can scan, laid out by
    :func:`redundancy.present.tables.summary_tables` (rows sharing the same columns form one
    table, transposed when wide); top-level scalars form a two-column name/value table.
    ``caption`` explains the first table once, not every part of it."""
    rows, flat = summary_rows(summary)
    nested = {k: v for k, v in summary.items() if isinstance(v, Mapping)}
    tables = [TableBlock(title=t.title, columns=t.columns, rows=[[label, *map(fmt, cells)] for label, *cells in t.rows]) for t in build_summary_tables(nested, title)]
    if flat:
        tables.append(TableBlock(title=title, columns=["", "value"], rows=[[k, fmt(v)] for k, v in flat.items()]))
    if tables:
        tables[0].caption = caption
    return tables


def as_floats(values: Any) -> np.ndarray:
    """A JSON list of numbers (``null`` for a missing value) as a float array with NaN."""
    if values is None:
        return np.zeros(0)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
