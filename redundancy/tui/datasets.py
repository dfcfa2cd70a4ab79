"""HDF5 groups and datasets in the right-hand pane: members, attributes, and the previews that apply.

Each preview (a :class:`Viewer`) says which datasets it applies to, as h5web's
viewers do: a heatmap for a matrix, a histogram for many numbers, a line for a
vector, a values table for anything of at most two dimensions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redundancy.present.format import fmt
from redundancy.store import reader
from redundancy.tui import source
from redundancy.tui.details import export_stem, h5_key, provenance
from redundancy.tui.model import Detail, HeatmapPanel, Panel, PlotPanel, Series, Table, TablePanel
from redundancy.tui.source import DatasetData, SourceError

# At most this many rows and columns of a dataset go into its values table.
VALUE_ROWS, VALUE_COLS = 500, 64


def group_detail(path: Path, name: str, root: Path | None = None) -> Detail:
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
        exportable=True,
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


def dataset_detail(path: Path, name: str, root: Path | None = None) -> Detail:
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
        exportable=True,
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
