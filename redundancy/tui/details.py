"""What the right-hand pane shows for a store, a run or a study, built off the UI thread.

Node keys (one stable string per tree node) live here too; HDF5 groups and
datasets are in :mod:`redundancy.tui.datasets`, comparisons in
:mod:`redundancy.tui.compare`.

Each ``*_detail`` function reads what it needs (attributes for stores, runs and
studies; ``/metrics`` for a run's curves; one dataset for a preview) and returns
a :class:`Detail` of plain data. Anything unreadable becomes a :class:`Detail`
whose message says why, so a bad file never takes the app down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from redundancy.grid import grid_axes, summarize_grid
from redundancy.present.tables import grid_table_data
from redundancy.present.format import fmt, weights_label
from redundancy.store.document import Document
from redundancy.store import layout as L
from redundancy.store import reader
from redundancy.store.results import Results
from redundancy.tui import source
from redundancy.tui.model import Detail, Panel, Provenance, Table, TablePanel
from redundancy.tui.source import Listing, RunGroup, SourceError, StageEntry
from redundancy.tui.views import training, view_for

PROVENANCE_KEYS = (
    L.A_STAGE_ID, L.A_STAGE_KIND, L.A_STUDY_KIND, L.A_RUN_STAGE_ID, L.A_SPEC_NAME, L.A_REDUNDANCY_VERSION,
    L.A_TORCH_VERSION, L.A_CUDA_VERSION, L.A_PYTHON_VERSION, L.A_DEVICE, L.A_HOST, L.A_CREATED, L.A_GIT_COMMIT,
    L.A_FORMAT_VERSION, L.A_DATASET, L.A_DATA_SOURCE, L.A_OFFLINE_SUBSET,
)


# --- node keys: one stable string per tree node, shared by the tree, search and refresh ----------


def store_key(root: Path) -> str:
    return f"store:{root}"


def run_key(root: Path, label: str) -> str:
    return f"run:{root}:{label}"


def stage_key(root: Path, stage_id: str) -> str:
    return f"stage:{root}:{stage_id}"


def h5_key(path: Path, name: str) -> str:
    return f"h5:{path}:{name}"


def export_stem(*parts: str) -> str:
    """A file-name-safe stem from labels (which come from stores and may hold anything)."""
    text = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("._") or "export"


# --- provenance ----------------------------------------------------------------------------------


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


def provenance(attrs: dict[str, Any], text: str = "", text_title: str = "") -> Provenance:
    facts = [(key, fmt(attrs[key])) for key in PROVENANCE_KEYS if key in attrs]
    if L.A_IDENTITY in attrs:
        facts.append(("identity (hashed)", str(attrs[L.A_IDENTITY])))
    return Provenance(facts, text, text_title)


def _config_yaml(attrs: dict[str, Any]) -> str:
    try:
        config = source.json_attr(attrs, L.A_CONFIG)
    except SourceError as exc:
        return f"# {exc}\n"
    return to_yaml(config) if config is not None else ""


def complete(entry: StageEntry | None) -> StageEntry | None:
    """``entry`` with every attribute of its stage read (the listing read only labels); a stage
    found unreadable now becomes an unreadable entry, with its reason."""
    if entry is not None and entry.record is not None:
        rec = reader.complete(entry.record)
        entry.status, entry.error = rec.status, rec.error
    return entry


def index_attrs(listing: Listing) -> dict[str, Any]:
    """The store's index attributes as the listing read them; :class:`SourceError` when they could not be."""
    reading = listing.reading if listing.reading is not None else reader.read_store(listing.root)
    if reading.index_error and not reading.index:
        raise SourceError(f"{L.INDEX}: {reading.index_error}")
    return reading.index


# --- stores, runs, studies -------------------------------------------------------------------------


def grid_panels(doc: Document) -> list[Panel]:
    """Each study's headline numbers by grid point, mean ± std over seeds, one table per study:
    :func:`redundancy.grid.summarize_grid` of ``doc`` (the reader's ``document``), the tables ``show`` prints."""
    summary = summarize_grid(doc)
    # a column per grid point when there are more numbers than points: it reads better in a narrow pane
    return [TablePanel(t.title, Table(t.columns, t.rows)) for t in grid_table_data(summary, max_columns=10**6)]


def comparison_panels(doc: Document) -> list[Panel]:
    """Arms compared across the networks of the store (:func:`redundancy.replicates.network_comparisons`):
    mean paired differences against the reference with their intervals and Holm's p, the tables ``show`` prints."""
    from redundancy.replicates import comparison_table_data
    from redundancy.replicates import network_comparisons

    return [TablePanel(t.title, Table(t.columns, t.rows, t.caption))
            for c in network_comparisons(doc) for t in comparison_table_data(c)]


def store_detail(listing: Listing) -> Detail:
    """A store: its runs with their headline numbers and study counts, its spec, and for a grid
    spec the grid summary (from the attributes the listing read)."""
    message = ""
    reading = listing.reading if listing.reading is not None else reader.read_store(listing.root)
    try:
        attrs = index_attrs(listing)
        text = str(attrs.get(L.A_SPEC_TEXT, ""))
        if reading.spec:
            text += "\n# --- resolved (defaults filled in) ---\n" + to_yaml(reading.spec)
        prov = provenance(attrs, text, "spec")
        if reading.index_error:
            prov.facts.append((L.INDEX, reading.index_error))
        has_grid = bool(grid_axes(reading.spec))
    except SourceError as exc:
        prov, has_grid = Provenance([(L.INDEX, str(exc))]), False
    doc = Document.of(reading, curves=False) if has_grid else None
    rows = []
    for group in listing.runs:
        acc: Any = None
        model = dataset = ""
        train = complete(group.train)
        status = train.status if train is not None else "missing"
        if train is not None and train.status == "done" and train.record is not None:
            run = train.record.attrs
            acc, model, dataset = run.get(L.A_TEST_ACCURACY), run.get(L.A_MODEL, ""), run.get(L.A_DATASET, "")
        elif train is not None and train.status in ("unreadable", "corrupt"):
            status = f"{'error' if train.status == 'unreadable' else 'corrupt'}: {train.error}"
        done = sum(s.status == "done" for s in group.studies)
        rows.append([group.label, model, dataset, status, acc, f"{done}/{len(group.studies)}"])
    for problem in listing.problems:
        rows.append([problem.path.name, "", "", f"error: {problem.reason}", None, ""])
    if mixed := reading.environment_warning():
        message = "\n".join(x for x in (message, mixed) if x)
        prov.facts.append(("environments", mixed))
    counts = listing.counts()
    caption = (
        f"{counts['runs']} run(s), {counts['studies']} study stage(s) done, {counts['pending']} pending, "
        f"{counts['failed']} failed, {counts['errors']} unreadable"
    )
    return Detail(
        key=store_key(listing.root),
        title=f"store {listing.name}" + (f" (spec {listing.spec_name})" if listing.spec_name not in ("", listing.name) else ""),
        table=Table(["run", "model", "dataset", "status", "test acc", "studies"], rows, caption),
        panels=grid_panels(doc) + comparison_panels(doc) if doc is not None else [],
        message=message,
        provenance=prov,
        exportable=True,
        export_stem=export_stem(listing.name),
    )


def _not_done(key: str, title: str, entry: StageEntry | None, listing: Listing) -> Detail:
    if entry is None:
        message = "no train stage for this run in the store"
    elif entry.status == "pending":
        message = f"{entry.id}: pending (planned, not written yet; it appears here when the run stores it)"
    elif entry.status == "failed":
        message = f"{entry.id}: failed in the last run:\n{entry.error}"
    else:
        message = f"{entry.path.name if entry.path else entry.id}: {entry.error}"
    return Detail(key=key, title=title, message=message)


def _running(listing: Listing, key: str, label: str, train: StageEntry) -> Detail | None:
    """A training not stored yet whose progress file is in the store: its curves so far."""
    progress = listing.store.read_progress(train.id)
    series = progress.get("series") if progress is not None else None
    if progress is None or not isinstance(series, dict):
        return None
    metrics = {k: np.asarray(v, dtype=float) for k, v in series.items() if isinstance(v, list)}
    message = (
        f"{train.id}: training, iteration {progress.get('iteration')} of {progress.get('total')} "
        f"(process {progress.get('pid')} on {progress.get('host')}, updated {progress.get('updated')}; "
        "a killed run leaves this until the next run)"
    )
    return Detail(key=key, title=f"run {label} · training", panels=list(training.panels(metrics)), message=message, exportable=True)


def run_detail(listing: Listing, group: RunGroup) -> Detail:
    """A run: headline numbers and its training curves (the only datasets read here)."""
    key = run_key(listing.root, group.label)
    if group.train is not None and group.train.status == "pending":
        running = _running(listing, key, group.label, group.train)
        if running is not None:
            return running
    train = complete(group.train)
    if train is None or train.status != "done" or train.record is None:
        return _not_done(key, f"run {group.label}", train, listing)
    attrs = train.record.attrs
    title = f"run {group.label} · {attrs.get(L.A_MODEL, '?')} on {attrs.get(L.A_DATASET, '?')}"
    message = "; ".join(train.record.notes)
    try:
        panels = list(training.panels(reader.read_metrics(train.record)))
    except SourceError as exc:
        panels, message = [], "; ".join(filter(None, [message, f"training curves: {exc}"]))
    return Detail(
        key=key,
        title=title,
        table=define_metrics(training.table(attrs), "train"),
        panels=panels,
        message=message,
        provenance=provenance(attrs, _config_yaml(attrs), "resolved run config"),
        exportable=True,
        export_stem=export_stem(listing.name, group.label),
    )


@dataclass
class StudyData:
    """A study stage's attributes, its summary as stored, and its typed results."""

    attrs: dict[str, Any]
    summary: dict[str, Any]
    results: Results
    notes: list[str]


def read_study(entry: StageEntry) -> StudyData:
    complete(entry)
    rec = entry.record
    if rec is None or rec.status != "done":
        raise SourceError(entry.error or "no stage file")
    return StudyData(rec.attrs, reader.raw_summary(rec), reader.study_results(rec), list(rec.notes))


def study_detail(listing: Listing, entry: StageEntry) -> Detail:
    """A study: its kind's table and plots, from the summary and curves it stored."""
    key = stage_key(listing.root, entry.id)
    title = f"{entry.study_kind} {entry.run}/{entry.name}"
    complete(entry)
    if entry.status != "done":
        return _not_done(key, title, entry, listing)
    try:
        data = read_study(entry)
    except SourceError as exc:
        return Detail(key=key, title=title, message=f"{entry.path.name if entry.path else entry.id}: {exc}")
    view = view_for(entry.study_kind)
    message = "; ".join(data.notes)
    run = entry_run_attrs(listing, entry)
    weights = weights_label(source.json_attr(data.attrs, L.A_CONFIG, {}) or {}, run)
    if weights:  # which weights the numbers describe: best (iteration 500)
        title += f" · weights {weights}"
    table: Table | None
    try:
        table = view.table(data.summary)
        panels = [*table.more, *view.panels(data.results)]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        table, panels = None, []
        message = f"the {entry.study_kind} view cannot read these curves ({type(exc).__name__}: {exc})"
    if view.tensors is not None and entry.record is not None:
        try:
            panels += view.tensors(entry.record)
        except (SourceError, OSError, KeyError, ValueError) as exc:
            message = f"datasets of this study: {exc}"
    if not panels and not message:
        message = "no curves stored for this study"
    if table is not None:
        define_metrics(table, str(entry.study_kind))
    return Detail(
        key=key,
        title=title,
        table=table,
        panels=panels,
        message=message,
        provenance=provenance(data.attrs, _config_yaml(data.attrs), "resolved study config"),
        exportable=True,
        export_stem=export_stem(listing.name, entry.run, entry.name),
    )


def entry_run_attrs(listing: Listing, entry: StageEntry) -> dict[str, Any]:
    """The attributes of the run a study studied (its iterations name final and best), or {} when unread."""
    group = next((g for g in listing.runs if g.label == entry.run), None)
    train = group.train if group is not None else None
    return dict(reader.complete(train.record).attrs) if train is not None and train.record is not None else {}


def define_metrics(table: Table, kind: str) -> Table:
    """Fill ``table.definitions`` with every column and row label ``kind`` defines (for its tooltip)."""
    from redundancy.present.glossary import define

    for label in [*table.columns, *(str(row[0]) for row in table.rows if row)]:
        metric = define(kind, label)
        if metric is not None:
            table.definitions.setdefault(label, metric.text())
    return table


def problem_detail(path: Path, reason: str) -> Detail:
    return Detail(key=f"problem:{path}", title=str(path.name or path), message=f"{path}: {reason}")


