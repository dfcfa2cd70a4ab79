"""Compare marked runs, or marked studies of one kind: differing spec fields, summaries side by side, curves overlaid.

By default the table shows only the rows whose values differ between the
items (``a`` shows every row): what is the same in all of them is not what a
comparison is for. Long cells are cut in the table (the CSV export has them whole).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from redundancy.store import layout as L
from redundancy.store import reader
from redundancy.store.results import Results
from redundancy.present.format import weights_label
from redundancy.present.tables import summary_rows
from redundancy.tui import source
from redundancy.tui.details import export_stem, read_study, run_detail
from redundancy.tui.model import Detail, Panel, PlotPanel, Series, Table
from redundancy.tui.source import Listing, RunGroup, SourceError, StageEntry
from redundancy.tui.views import view_for

# Compare cells are cut to this many characters on screen, so a long value (a data source, a path)
# never pushes the next item's column out of a 120-column terminal.
CELL_WIDTH = 28


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


# An absolute x axis and the stored series that measures it relative to the item's size, with their
# labels: studies of networks of different widths are compared against the fraction of units removed,
# not the count (removing 50 units of 100 and of 400 are not the same step).
RELATIVE_AXES: dict[str, tuple[str, str, str]] = {
    "units_removed": ("fraction_removed", "fraction of units removed", "units removed"),
}


def _sizes(results: Results, x: str, fraction: str) -> set[int]:
    """The sizes (x / fraction) of every curve of ``results`` that stores both series."""
    sizes = set()
    for c in results.curves:
        if c.x != x:
            continue
        for a, f in zip(c.series.get(x) or [], c.series.get(fraction) or []):
            if isinstance(a, (int, float)) and isinstance(f, (int, float)) and f > 0:
                sizes.add(round(a / f))
                break
    return sizes


def relative_axis(results: Sequence[Results]) -> tuple[str, str, str] | None:
    """(series, label, absolute x) to draw the compared curves against when the items differ in
    size (a pruning study of a wider network): their relative axis; None when sizes agree."""
    for x, (fraction, label, _) in RELATIVE_AXES.items():
        sizes = [_sizes(r, x, fraction) for r in results]
        if all(sizes) and len({frozenset(s) for s in sizes}) > 1:
            return fraction, label, x
    return None


def with_x(results: Results, x: str) -> Results:
    """``results`` with every curve that stores series ``x`` drawn against it."""
    curves = [replace(c, x=x) if x in c.series else c for c in results.curves]
    return replace(results, curves=curves)


@dataclass
class _Gathered:
    """What each compared item contributes: its spec fields, its summary, its panels; for studies
    their typed results and the weights they read."""

    specs: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    panel_sets: list[list[Panel]] = field(default_factory=list)
    study_results: list[Results] = field(default_factory=list)
    weights: list[str | None] = field(default_factory=list)  # which checkpoint each study read, with its iteration


def _gather(items: Sequence[Item], kind: str) -> _Gathered:
    """Read every item (a run's detail, or a study's summary, results and config); :class:`SourceError`
    names the item that could not be read."""
    out = _Gathered()
    for item in items:
        try:
            run_fields = source.flatten(_run_config(item), "run" if item.entry else "")
            if item.entry is None:
                detail = run_detail(item.listing, item.group)
                summary = {row[0]: row[1] for row in (detail.table.rows if detail.table else [])}
                out.specs.append(run_fields)
            else:
                data = read_study(item.entry)
                detail = Detail(key="", title="", table=view_for(kind).table(data.summary), panels=[])
                out.study_results.append(data.results)
                rows, top = summary_rows(data.summary)
                summary = {f"{name} · {k}": v for name, values in rows for k, v in values.items()}
                summary.update(top)
                config = source.json_attr(data.attrs, L.A_CONFIG, {}) or {}
                train = item.group.train
                out.weights.append(weights_label(config, reader.complete(train.record).attrs if train is not None and train.record is not None else {}))
                out.specs.append({**source.flatten(config, "study"), **run_fields})
        except SourceError as exc:
            raise SourceError(f"{item.label}: {exc}") from exc
        out.summaries.append(summary)
        out.panel_sets.append(detail.panels)
    return out


def _rows(got: _Gathered, count: int, all_rows: bool) -> list[list[Any]]:
    """The table: weights, the spec fields that differ, then the summary rows (those that differ unless ``all_rows``)."""
    rows: list[list[Any]] = []
    if any(got.weights):  # two studies of different runs may read different iterations under one name (best)
        rows.append(["weights", *got.weights])
    for name in differing(got.specs):
        rows.append([f"spec {name}", *(spec.get(name) for spec in got.specs)])
    if not rows:
        rows.append(["spec", *(["same"] * count)])
    keys: list[str] = []
    for s in got.summaries:
        keys += [k for k in s if k not in keys]
    shown = keys if all_rows else differing(got.summaries)
    rows += [[k, *(s.get(k) for s in got.summaries)] for k in shown]
    if len(shown) < len(keys):
        rows.append([f"{len(keys) - len(shown)} more row(s) the same in all", *([""] * count)])
    return rows


def _overlaid(labels: Sequence[str], panel_sets: Sequence[list[Panel]], relative: tuple[str, str, str] | None) -> list[Panel]:
    """Each plot of the first item with the same plot of every item drawn into it, series named by item."""
    panels: list[Panel] = []
    for panel in panel_sets[0]:
        if not isinstance(panel, PlotPanel):
            continue
        lines: list[Series] = []
        for label, others in zip(labels, panel_sets):
            match = next((p for p in others if isinstance(p, PlotPanel) and p.title == panel.title), None)
            if match is not None:
                lines += [Series(f"{label}: {s.label}", s.x, s.y, s.std) for s in match.series]
        xlabel = relative[1] if relative and panel.xlabel == RELATIVE_AXES[relative[2]][2] else panel.xlabel
        panels.append(PlotPanel(panel.title, xlabel, panel.ylabel, lines, panel.bars, logy_ok=panel.logy_ok))
    return panels


def compare_detail(items: Sequence[Item], *, all_rows: bool = False) -> Detail:
    """Marked runs or studies of one kind side by side: differing spec fields, summaries, overlaid curves.

    Only the rows whose values differ between the items, unless ``all_rows``."""
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
    try:
        got = _gather(items, kind)
    except SourceError as exc:
        return Detail(key="compare", title="compare", message=str(exc))
    relative = relative_axis(got.study_results) if got.study_results else None
    if got.study_results:
        view = view_for(kind)
        got.panel_sets = [view.panels(with_x(r, relative[0]) if relative else r) for r in got.study_results]
    what = "runs" if kind == "run" else f"{kind} studies"
    return Detail(
        key="compare:" + "|".join(labels),
        title=f"compare {len(items)} {what}: {', '.join(labels)}",
        table=Table(
            ["", *labels], _rows(got, len(items), all_rows), max_width=CELL_WIDTH,
            caption="spec rows: only the fields that differ; " + ("all summary rows (a: only those that differ)" if all_rows else "only summary rows that differ (a: all rows)"),
        ),
        panels=_overlaid(labels, got.panel_sets, relative),
        exportable=True,
        export_stem=export_stem(items[0].listing.name, "compare", *(i.label for i in items)),
    )
