"""What a study kind's view provides, and helpers every view shares.

A view turns a study's stored ``summary`` into a :class:`Table` and its typed
results (:class:`redundancy.store.results.Results`, decoded by the store's
reader, whatever version wrote the store) into plot panels. Curves are picked
by their key fields (layer, checkpoint, criterion, basis ...), never by
parsing key strings; a series a store lacks means a missing line, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redundancy.store.reader import StageRecord
from redundancy.store.results import Curve, Plot, Results, kind_schema
from redundancy.present.tables import summary_tables
from redundancy.tui.model import Panel, PlotPanel, Series, Table, TablePanel


@dataclass(frozen=True)
class StudyView:
    """A study kind's table and plots, registered in :data:`redundancy.tui.views.VIEWS`.

    ``tensors``, when given, adds panels drawn from the stage's datasets (read through the
    store's reader when the study is selected) for what the curves do not carry, such as
    trajectories."""

    kind: str
    table: Callable[[dict[str, Any]], Table]
    panels: Callable[[Results], list[Panel]]
    description: str = ""
    tensors: Callable[[StageRecord], list[Panel]] | None = None


def numbers(value: Any) -> list[float] | None:
    """A JSON list of numbers (``null`` becomes NaN), or None when it is not one."""
    if not isinstance(value, list) or not value:
        return None
    out: list[float] = []
    for v in value:
        if v is None:
            out.append(math.nan)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        else:
            out.append(float(v))
    return out


def varying(curves: Sequence[Curve]) -> list[str]:
    """Key fields whose values differ between ``curves`` (in key order): what tells their lines apart."""
    fields: list[str] = []
    for c in curves:
        fields += [f for f in c.key if f not in fields]
    return [f for f in fields if len({repr(c.key.get(f)) for c in curves}) > 1]


def line(label: str, curve: Curve, ykey: str, x: str | None = None, std: str | None = None) -> Series | None:
    """One line of a curve: ``ykey`` against its x axis (or ``x``), cut to the shorter; None when absent."""
    xs, ys = numbers(curve.series.get(x or curve.x)), numbers(curve.series.get(ykey))
    if xs is None or ys is None:
        return None
    n = min(len(xs), len(ys))
    band = numbers(curve.series.get(std)) if std else None
    if band is not None:
        band = band[:n] if len(band) >= n else None
    return Series(label, xs[:n], ys[:n], band)


Labeler = Callable[[Curve, list[str]], str]


def key_label(curve: Curve, fields: list[str]) -> str:
    """A curve's legend text: the values of the key fields that tell it apart from the others."""
    return curve.label(*fields)


def curve_panel(
    curves: Sequence[Curve], title: str, ykey: str, xlabel: str, ylabel: str, fallback: str = "", label: Labeler = key_label
) -> PlotPanel | None:
    """Every curve carrying ``ykey`` on one panel, each labeled by ``label`` from the key fields that
    tell it apart (its ``<ykey>_std``, when stored, as a band)."""
    found = [c for c in curves if numbers(c.series.get(ykey)) is not None]
    fields = varying(found)
    lines = []
    for c in found:
        s = line(label(c, fields) or fallback or ykey, c, ykey, std=f"{ykey}_std")
        if s is not None:
            lines.append(s)
    return PlotPanel(title, xlabel, ylabel, lines, logx=spans_decades(lines)) if lines else None


def spans_decades(lines: list[Series]) -> bool:
    """True when x starts at 0 or 1, reaches 100 and half its points lie in the first tenth
    (log-spaced checkpoints): such an axis reads better on a log scale."""
    xs = sorted({x for s in lines for x in s.x if math.isfinite(x)})
    if len(xs) < 4 or not 0 <= xs[0] <= 1 or xs[-1] < 100:
        return False
    return xs[len(xs) // 2] <= xs[-1] / 10


def screen_table(summary: dict[str, Any], row_title: str = "") -> Table:
    """A summary dict as a table (:func:`redundancy.present.tables.summary_tables`): nested dicts
    become rows, their keys columns (transposed when wide); top-level scalars become the caption
    (or the whole table, as key/value rows, when nothing nests). Rows of another shape come in
    ``more``, a table each."""
    tables = summary_tables(summary, row_title=row_title)
    if not tables:
        return Table(["", "value"], [])
    first, *rest = tables
    out = Table(first.columns, first.rows, first.caption)
    out.more = [TablePanel(t.title or "summary", Table(t.columns, t.rows, t.caption)) for t in rest]
    return out


def declared_panels(results: Results, plots: Sequence[Plot]) -> list[Panel]:
    """The plots a kind declares in its schema (:class:`~redundancy.store.results.Plot`), as panels."""
    panels: list[Panel] = []
    for plot in plots:
        found = [c for c in plot.curves(results) if numbers(c.series.get(plot.y)) is not None]
        fields = varying(found)
        lines = [s for c in found if (s := line(plot.line_label(c, fields), c, plot.y, std=f"{plot.y}_std")) is not None]
        if lines:
            panels.append(PlotPanel(plot.title, plot.xlabel, plot.ylabel, lines, logx=spans_decades(lines)))
    return panels


def generic_panels(results: Results) -> list[Panel]:
    """For a kind without a view: the plots its schema declares, else one panel per series, against
    each curve's own x axis."""
    schema = kind_schema(results.kind)
    if schema is not None and schema.plots:
        return declared_panels(results, schema.plots)
    panels: list[Panel] = []
    ykeys: list[tuple[str, str]] = []
    for c in results.curves:
        ykeys += [(c.x, k) for k in c.ys() if (c.x, k) not in ykeys and not k.endswith("_std")]
    for x, ykey in ykeys:
        curves = [c for c in results.curves if c.x == x]
        if x:
            panel = curve_panel(curves, f"{ykey} vs {x}", ykey, x, ykey)
        else:
            lines = [Series(str(c.key.get("path") or ykey), [float(i) for i in range(len(ys))], ys)
                     for c in curves if (ys := numbers(c.series.get(ykey))) is not None]
            panel = PlotPanel(f"{ykey} vs index", "index", ykey, lines) if lines else None
        if panel is not None:
            panels.append(panel)
    return panels


GENERIC = StudyView("generic", screen_table, generic_panels, "any study kind without its own view: the plots its schema declares, else every series")
