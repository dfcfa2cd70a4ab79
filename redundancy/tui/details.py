"""What the right-hand pane shows for each kind of tree node, built off the UI thread.

Each ``*_detail`` function reads what it needs (attributes for stores, runs and
studies; ``/metrics`` for a run's curves; one dataset for a preview) and returns
a :class:`Detail` of plain data. Anything unreadable becomes a :class:`Detail`
whose message says why, so a bad file never takes the app down.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from redundancy.grid import SEED_AXIS, format_cell, grid_axes, grid_summary
from redundancy.store import layout as L
from redundancy.store import reader
from redundancy.store.results import Results
from redundancy.summary import summary_rows
from redundancy.tui import source
from redundancy.present.format import fmt
from redundancy.tui.model import Detail, HeatmapPanel, Panel, PlotPanel, Provenance, Series, Table, TablePanel
from redundancy.tui.source import DatasetData, Listing, RunGroup, SourceError, StageEntry
from redundancy.tui.views import training, view_for

PROVENANCE_KEYS = (
    L.A_STAGE_ID, L.A_STAGE_KIND, L.A_STUDY_KIND, L.A_RUN_STAGE_ID, L.A_SPEC_NAME, L.A_REDUNDANCY_VERSION,
    L.A_TORCH_VERSION, L.A_CUDA_VERSION, L.A_PYTHON_VERSION, L.A_DEVICE, L.A_HOST, L.A_CREATED, L.A_GIT_COMMIT,
    L.A_FORMAT_VERSION, L.A_DATASET, L.A_DATA_SOURCE, L.A_OFFLINE_SUBSET,
)
# At most this many rows and columns of a dataset go into its values table.
VALUE_ROWS, VALUE_COLS = 500, 64


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


def grid_panels(doc: dict[str, Any]) -> list[Panel]:
    """Each study's headline numbers by grid point, mean ± std over seeds, one table per study:
    :func:`redundancy.grid.grid_summary` of ``doc`` (the reader's ``document``), the lines ``show`` prints."""
    summary = grid_summary(doc)
    axes = summary["group_axes"]
    seeds = summary["axes"].get(SEED_AXIS) if summary["seed_axis"] else None
    over = f", mean ± std over {len(seeds)} seeds" if seeds else ""
    panels: list[Panel] = []
    for t in summary["tables"]:
        if not t["rows"]:
            continue
        done = [f"{r['done']}/{r['done'] + r['failed'] + r['pending']}" for r in t["rows"]]
        cells = [[format_cell(r["cells"].get(m)) for m in t["metrics"]] for r in t["rows"]]
        if len(t["metrics"]) > len(t["rows"]):  # a column per grid point reads better in a narrow pane
            points = [", ".join(f"{a.split('.')[-1]}={r['point'].get(a)}" for a in axes) or "all runs" for r in t["rows"]]
            table = Table(["", *points], [["done", *done], *([m, *(c[i] for c in cells)] for i, m in enumerate(t["metrics"]))])
        else:
            rows = [[*(r["point"].get(a) for a in axes), d, *c] for r, d, c in zip(t["rows"], done, cells)]
            table = Table([*axes, "done", *t["metrics"]], rows)
        kind = f" ({t['kind']})" if t["kind"] not in (t["study"], "train") else ""
        panels.append(TablePanel(f"grid: {t['study']}{kind}{over}", table))
    return panels


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
    doc = reader.document(reading, curves=False) if has_grid else None
    rows = []
    for group in listing.runs:
        acc: Any = None
        model = dataset = ""
        train = complete(group.train)
        status = train.status if train is not None else "missing"
        if train is not None and train.status == "done" and train.record is not None:
            run = train.record.attrs
            acc, model, dataset = run.get(L.A_TEST_ACCURACY), run.get(L.A_MODEL, ""), run.get(L.A_DATASET, "")
        elif train is not None and train.status == "unreadable":
            status = f"error: {train.error}"
        done = sum(s.status == "done" for s in group.studies)
        rows.append([group.label, model, dataset, status, acc, f"{done}/{len(group.studies)}"])
    for problem in listing.problems:
        rows.append([problem.path.name, "", "", f"error: {problem.reason}", None, ""])
    counts = listing.counts()
    caption = (
        f"{counts['runs']} run(s), {counts['studies']} study stage(s) done, {counts['pending']} pending, "
        f"{counts['failed']} failed, {counts['errors']} unreadable"
    )
    return Detail(
        key=store_key(listing.root),
        title=f"store {listing.name}" + (f" (spec {listing.spec_name})" if listing.spec_name not in ("", listing.name) else ""),
        table=Table(["run", "model", "dataset", "status", "test acc", "studies"], rows, caption),
        panels=grid_panels(doc) if doc is not None else [],
        message=message,
        provenance=prov,
        export_dir=listing.root.parent,
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
    return Detail(key=key, title=title, message=message, export_dir=listing.root.parent)


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
    return Detail(key=key, title=f"run {label} · training", panels=list(training.panels(metrics)), message=message, export_dir=listing.root.parent)


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
        table=training.table(attrs),
        panels=panels,
        message=message,
        provenance=provenance(attrs, _config_yaml(attrs), "resolved run config"),
        export_dir=listing.root.parent,
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
    table: Table | None
    try:
        table = view.table(data.summary)
        panels = view.panels(data.results)
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
    return Detail(
        key=key,
        title=title,
        table=table,
        panels=panels,
        message=message,
        provenance=provenance(data.attrs, _config_yaml(data.attrs), "resolved study config"),
        export_dir=listing.root.parent,
        export_stem=export_stem(listing.name, entry.run, entry.name),
    )


# --- HDF5 groups and datasets -----------------------------------------------------------------------


def group_detail(path: Path, name: str, export_dir: Path | None = None, root: Path | None = None) -> Detail:
    """An HDF5 group: its members with shape and dtype, and its attributes."""
    key = h5_key(path, name)
    try:
        members = source.list_group(path, name, root)
        attrs = reader.group_attrs(path, name, root)
    except SourceError as exc:
        return Detail(key=key, title=f"{path.name}:{name}", message=str(exc))
    rows = [[m.name, "group" if m.is_group else "dataset", f"{m.members} members" if m.is_group else "×".join(map(str, m.shape)) or "scalar", m.dtype] for m in members]
    panels: list[Panel] = []
    if attrs:
        panels.append(TablePanel("attributes", Table(["attribute", "value"], [[k, _attr_text(v)] for k, v in attrs.items()])))
    return Detail(
        key=key,
        title=f"{path.name}:{name}",
        table=Table(["member", "type", "shape", "dtype"], rows),
        panels=panels,
        export_dir=export_dir or path.parent,
        export_stem=export_stem(path.stem, name),
    )


def _attr_text(value: Any) -> str:
    text = fmt(value)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class Viewer:
    """A dataset preview that applies to some datasets (h5web's idea): a table, plot or heatmap."""

    name: str
    applies: Callable[[DatasetData], bool]
    build: Callable[[DatasetData], Panel]


def _numeric(d: DatasetData) -> bool:
    return d.values.dtype.kind in "biuf"


def _values_panel(d: DatasetData) -> Panel:
    v = d.values
    if v.ndim == 0:
        return TablePanel("value", Table(["value"], [[v.item()]]))
    if v.ndim == 1:
        title = "values" if v.shape[0] <= VALUE_ROWS else f"values (first {VALUE_ROWS} of {v.shape[0]})"
        return TablePanel(title, Table(["index", "value"], [[i, x] for i, x in enumerate(v[:VALUE_ROWS].tolist())]))
    block = v[:VALUE_ROWS, :VALUE_COLS]
    return TablePanel(
        f"values (first {block.shape[0]} × {block.shape[1]})",
        Table(["row", *map(str, range(block.shape[1]))], [[i, *row] for i, row in enumerate(block.tolist())]),
    )


def _line_panel(d: DatasetData) -> Panel:
    y = d.values.astype(float).tolist()
    step = d.strided[0] if d.strided else 1
    return PlotPanel("values vs index", "index", "value", [Series(d.name.rsplit("/", 1)[-1], [float(i * step) for i in range(len(y))], y)])


def _as_matrix(d: DatasetData) -> np.ndarray:
    v = d.values.astype(float)
    return v if v.ndim == 2 else v.reshape(v.shape[0], -1)


def _heatmap_panel(d: DatasetData) -> Panel:
    m = _as_matrix(d)
    title = "heatmap" if d.values.ndim == 2 else f"heatmap (one row per {d.shape[0]} outputs)"
    return HeatmapPanel(f"{title}: rows × columns = {m.shape[0]} × {m.shape[1]}", m)


def _histogram_panel(d: DatasetData) -> Panel:
    v = d.values.astype(float).ravel()
    v = v[np.isfinite(v)]
    bins = int(min(50, max(5, np.sqrt(v.size))))
    counts, edges = np.histogram(v, bins=bins) if v.size else (np.zeros(1), np.array([0.0, 1.0]))
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    return PlotPanel(f"histogram of {v.size} values", "value", "count", [Series("count", centres, counts.astype(float).tolist())], bars=True)


VIEWERS: dict[str, Viewer] = {
    "heatmap": Viewer("heatmap", lambda d: _numeric(d) and d.values.ndim >= 2 and min(d.values.shape) > 1, _heatmap_panel),
    "histogram": Viewer("histogram", lambda d: _numeric(d) and d.values.size > 64, _histogram_panel),
    "line": Viewer("line", lambda d: _numeric(d) and d.values.ndim == 1 and d.values.size > 1, _line_panel),
    "values": Viewer("values", lambda d: d.values.ndim <= 2, _values_panel),
}


def viewer_order(d: DatasetData) -> list[str]:
    """Which previews apply, the most telling first (a matrix's heatmap, a long vector's histogram)."""
    if d.values.ndim >= 2:
        order = ["heatmap", "values", "histogram"]
    elif d.values.size > 1000:
        order = ["histogram", "line", "values"]
    else:
        order = ["values", "line", "histogram"]
    return [name for name in order if VIEWERS[name].applies(d)]


def dataset_detail(path: Path, name: str, export_dir: Path | None = None, root: Path | None = None) -> Detail:
    """A dataset: shape, dtype and attributes, and every preview that applies to it."""
    key = h5_key(path, name)
    try:
        data = source.read_dataset(path, name, root=root)
    except SourceError as exc:
        return Detail(key=key, title=f"{path.name}:{name}", message=str(exc))
    rows: list[list[Any]] = [
        ["shape", " × ".join(map(str, data.shape)) or "scalar"],
        ["dtype", data.dtype],
        ["elements", int(np.prod(data.shape)) if data.shape else 1],
    ]
    if data.strided:
        rows.append(["preview", f"every {' × '.join(map(str, data.strided))} element(s) per axis"])
    if data.values.size and _numeric(data):
        finite = data.values.astype(float)
        rows += [["min", float(np.nanmin(finite))], ["max", float(np.nanmax(finite))], ["mean", float(np.nanmean(finite))]]
    if data.compression:
        rows.append(["compression", data.compression])
    rows += [[f"attr {k}", _attr_text(v)] for k, v in data.attrs.items()]
    return Detail(
        key=key,
        title=f"{path.name}:{data.name}",
        table=Table(["", "value"], rows),
        panels=[VIEWERS[n].build(data) for n in viewer_order(data)],
        export_dir=export_dir or path.parent,
        export_stem=export_stem(path.stem, data.name),
    )


def file_detail(path: Path) -> Detail:
    """A lone HDF5 file named on the command line: its root group and attributes."""
    detail = group_detail(path, "/")
    try:
        detail.provenance = provenance(source.stage_attrs(path))
    except SourceError:
        pass
    return detail


def problem_detail(path: Path, reason: str) -> Detail:
    return Detail(key=f"problem:{path}", title=str(path.name or path), message=f"{path}: {reason}")


# --- compare ---------------------------------------------------------------------------------------


@dataclass
class Item:
    """One marked run or study, resolved from the tree for a comparison."""

    listing: Listing
    group: RunGroup
    entry: StageEntry | None = None  # None: the run itself

    @property
    def label(self) -> str:
        base = self.group.label if self.entry is None else f"{self.group.label}/{self.entry.name}"
        return base

    @property
    def kind(self) -> str:
        return "run" if self.entry is None else self.entry.study_kind


def _labels(items: Sequence[Item]) -> list[str]:
    labels = [i.label for i in items]
    if len(set(labels)) < len(labels) or len({i.listing.root for i in items}) > 1:
        labels = [f"{i.listing.name}:{i.label}" for i in items]
    return labels


def _run_config(item: Item) -> dict[str, Any]:
    train = item.group.train
    if train is None or train.path is None or train.status != "done":
        return {}
    return reader.complete(train.record).config if train.record is not None else {}


def differing(fields: Sequence[dict[str, Any]]) -> list[str]:
    """Flattened field paths whose values are not the same in every item."""
    keys: list[str] = []
    for f in fields:
        keys += [k for k in f if k not in keys]
    missing = object()
    return [k for k in keys if len({json.dumps(f.get(k, missing), sort_keys=True, default=str) for f in fields}) > 1]


def compare_detail(items: Sequence[Item]) -> Detail:
    """Marked runs or studies of one kind side by side: differing spec fields, summaries, overlaid curves."""
    kinds = {i.kind for i in items}
    if len(items) < 2 or len(kinds) != 1:
        what = ", ".join(sorted(kinds)) or "nothing"
        return Detail(
            key="compare",
            title="compare",
            message=f"mark two or more runs, or studies of one kind, with space (marked: {len(items)}: {what})",
        )
    kind = kinds.pop()
    labels = _labels(items)
    specs: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    panel_sets: list[list[Panel]] = []
    for item in items:
        try:
            run_fields = source.flatten(_run_config(item), "run" if item.entry else "")
            if item.entry is None:
                detail = run_detail(item.listing, item.group)
                summary = {row[0]: row[1] for row in (detail.table.rows if detail.table else [])}
                specs.append(run_fields)
            else:
                data = read_study(item.entry)
                view = view_for(kind)
                detail = Detail(key="", title="", table=view.table(data.summary), panels=view.panels(data.results))
                rows, top = summary_rows(data.summary)
                summary = {f"{name} · {k}": v for name, values in rows for k, v in values.items()}
                summary.update(top)
                study_fields = source.flatten(source.json_attr(data.attrs, L.A_CONFIG, {}) or {}, "study")
                specs.append({**study_fields, **run_fields})
        except SourceError as exc:
            return Detail(key="compare", title="compare", message=f"{item.label}: {exc}")
        summaries.append(summary)
        panel_sets.append(detail.panels)
    rows: list[list[Any]] = []
    for field in differing(specs):
        rows.append([f"spec {field}", *(spec.get(field) for spec in specs)])
    if not rows:
        rows.append(["spec", *(["same"] * len(items))])
    keys: list[str] = []
    for s in summaries:
        keys += [k for k in s if k not in keys]
    rows += [[k, *(s.get(k) for s in summaries)] for k in keys]
    panels: list[Panel] = []
    for panel in panel_sets[0]:
        if not isinstance(panel, PlotPanel):
            continue
        lines: list[Series] = []
        for label, others in zip(labels, panel_sets):
            match = next((p for p in others if isinstance(p, PlotPanel) and p.title == panel.title), None)
            if match is not None:
                lines += [Series(f"{label}: {s.label}", s.x, s.y, s.std) for s in match.series]
        panels.append(PlotPanel(panel.title, panel.xlabel, panel.ylabel, lines, panel.bars))
    what = "runs" if kind == "run" else f"{kind} studies"
    return Detail(
        key="compare:" + "|".join(labels),
        title=f"compare {len(items)} {what}: {', '.join(labels)}",
        table=Table(["", *labels], rows, caption="spec rows: only the fields that differ"),
        panels=panels,
        export_dir=items[0].listing.root.parent,
        export_stem=export_stem(items[0].listing.name, "compare", *(i.label for i in items)),
    )


# --- search ----------------------------------------------------------------------------------------


def search_texts(listing: Listing) -> list[tuple[str, str]]:
    """(node key, searchable text) for a store, its runs and studies: names and spec values."""
    def spec_words(attrs: dict[str, Any]) -> str:
        try:
            config = source.json_attr(attrs, L.A_CONFIG, {}) or {}
        except SourceError:
            return ""
        return " ".join(f"{k}={v}" for k, v in source.flatten(config).items())

    out: list[tuple[str, str]] = []
    try:
        spec_text = str(index_attrs(listing).get(L.A_SPEC_TEXT, ""))
    except SourceError:
        spec_text = ""
    out.append((store_key(listing.root), f"{listing.name} {listing.spec_name} {spec_text}"))
    for group in listing.runs:
        words = group.label
        complete(group.train)
        if group.train is not None and group.train.record is not None and group.train.status == "done":
            attrs = group.train.record.attrs
            words += f" {group.train.id} {attrs.get(L.A_MODEL, '')} {attrs.get(L.A_DATASET, '')} {spec_words(attrs)}"
        out.append((run_key(listing.root, group.label), words))
        for entry in group.studies:
            words = f"{entry.name} {entry.study_kind} {entry.id} {entry.status}"
            complete(entry)
            if entry.record is not None and entry.status == "done":
                words += " " + spec_words(entry.record.attrs)
            out.append((stage_key(listing.root, entry.id), words))
    return out


def matches(texts: Sequence[tuple[str, str]], query: str) -> list[str]:
    """Keys whose text holds every word of ``query`` (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return []
    return [key for key, text in texts if all(w in text.lower() for w in words)]
