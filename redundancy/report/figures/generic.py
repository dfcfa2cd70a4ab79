"""Figures for any study kind without its own: its typed summary as a table, its curves as line plots
(the plots its schema declares, when it declares some).

A plugin kind, or a kind this version does not know, still gets a section:
one figure per x axis its curves share, one panel per series (at most
:data:`MAX_PANELS`), one line per curve labeled by the key fields that tell the
curves apart; then the summary rows as a table keyed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, TableBlock, as_floats, fmt, table_blocks
from redundancy.report.style import PALETTE, legend_below, new_figure, wrap
from redundancy.store.results import Curve, Plot, Results, kind_schema

MAX_PANELS = 6
MAX_LINES = 12  # lines per panel; more are left out and said so


def varying(records: Sequence[Any]) -> list[str]:
    """Key fields whose values differ between records (in key order)."""
    fields: list[str] = []
    for r in records:
        fields += [f for f in r.key if f not in fields]
    return [f for f in fields if len({repr(r.key.get(f)) for r in records}) > 1]


def _numeric(values: Any) -> bool:
    return isinstance(values, list) and bool(values) and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)


def _draw_line(ax: Any, c: Curve, x: str, name: str, legend: str, i: int) -> None:
    xs, ys = as_floats(c.series[x]), as_floats(c.series[name])
    n = min(len(xs), len(ys))
    ax.plot(xs[:n], ys[:n], color=PALETTE[i % len(PALETTE)], marker="o", markersize=2.5, linewidth=1.2, label=legend)
    std = c.series.get(f"{name}_std")
    if _numeric(std):
        sd = as_floats(std)[:n]
        ax.fill_between(xs[:n], ys[:n] - sd, ys[:n] + sd, color=PALETTE[i % len(PALETTE)], alpha=0.2, linewidth=0)


def declared_figures(results: Results, plots: Sequence[Plot], label: str) -> list[Block]:
    """The plots a kind declares in its schema (:class:`~redundancy.store.results.Plot`): one figure,
    a panel each, titled and labeled as declared (the TUI draws the same panels)."""
    drawn = [(p, [c for c in p.curves(results) if _numeric(c.series.get(p.y)) and _numeric(c.series.get(c.x))]) for p in plots]
    drawn = [(p, curves) for p, curves in drawn if curves]
    if not drawn:
        return []
    ncols = min(3, len(drawn))
    nrows = math.ceil(len(drawn) / ncols)
    fig, axes = new_figure(ncols, nrows, height=2.4 * nrows + 0.6, legends="each")
    for ax, (plot, curves) in zip(axes, drawn):
        fields = varying(curves)
        for i, c in enumerate(curves[:MAX_LINES]):
            _draw_line(ax, c, c.x, plot.y, plot.line_label(c, fields), i)
        ax.set_title(wrap(plot.title, 40), fontsize=8)
        ax.set_xlabel(wrap(plot.xlabel, 30), fontsize=7.5)
        ax.set_ylabel(wrap(plot.ylabel, 36), fontsize=7.5)
        if len(curves) > 1:
            legend_below(ax, fontsize=6.5)
    for ax in axes[len(drawn):]:
        ax.set_visible(False)
    title = f"{results.kind}: {', '.join(p.title for p, _ in drawn)} ({label})"
    fig.suptitle(wrap(title, 90))
    return [FigureBlock(key="plots", title=title, figure=fig, caption="The plots the study kind declares, as the TUI draws them.")]


def curve_figures(results: Results, label: str) -> list[Block]:
    schema = kind_schema(results.kind)
    if schema is not None and schema.plots:
        return declared_figures(results, schema.plots, label)
    blocks: list[Block] = []
    by_x: dict[str, list[Curve]] = {}
    for c in results.curves:
        if c.x and _numeric(c.series.get(c.x)):
            by_x.setdefault(c.x, []).append(c)
    for x, curves in by_x.items():
        names = list(dict.fromkeys(k for c in curves for k, v in c.ys().items() if not k.endswith("_std") and _numeric(v)))
        shown = names[:MAX_PANELS]
        if not shown:
            continue
        fields = varying(curves)
        ncols = min(3, len(shown))
        nrows = math.ceil(len(shown) / ncols)
        fig, axes = new_figure(ncols, nrows, height=2.4 * nrows + 0.6, legends="each")
        for ax, name in zip(axes, shown):
            with_series = [c for c in curves if _numeric(c.series.get(name))]
            for i, c in enumerate(with_series[:MAX_LINES]):
                _draw_line(ax, c, x, name, c.label(*fields) or name, i)
            ax.set_xlabel(wrap(x.replace("_", " "), 30), fontsize=7.5)
            ax.set_ylabel(wrap(name.replace("_", " "), 36), fontsize=7.5)
            if len(with_series) > 1:
                legend_below(ax, fontsize=6.5)
            if len(with_series) > MAX_LINES:
                ax.set_title(f"first {MAX_LINES} of {len(with_series)} curves", fontsize=7)
        for ax in axes[len(shown):]:
            ax.set_visible(False)
        title = f"{results.kind}: {', '.join(shown)} against {x.replace('_', ' ')} ({label})"
        fig.suptitle(title)
        more = f" {len(names) - len(shown)} more series are in the store." if len(names) > len(shown) else ""
        caption = f"The study's stored curves, drawn by the generic figure (the kind has no figure of its own).{more}"
        blocks.append(FigureBlock(key=f"curves-{x}", title=title, figure=fig, caption=caption))
    return blocks


def summary_blocks(results: Results, label: str) -> list[Block]:
    blocks: list[Block] = []
    if results.summary:
        fields = varying(results.summary) or list(results.summary[0].key)
        columns = list(dict.fromkeys(k for r in results.summary for k in r.values))
        rows = [[*(fmt(r.key.get(f)) for f in fields), *(fmt(r.values.get(c)) for c in columns)] for r in results.summary]
        blocks.append(TableBlock(title=f"{results.kind} summary: {label}", columns=[*fields, *columns], rows=rows))
    if results.scalars:
        blocks.extend(table_blocks(results.scalars, f"{results.kind} summary: {label}"))
    return blocks


def generic_figures(view: StageView) -> list[Block]:
    """Every study kind without a figure function of its own."""
    results = view.results
    blocks = curve_figures(results, view.label) + summary_blocks(results, view.label)
    if not blocks:
        blocks.append(NoteBlock(f"{results.kind} {view.label}: the study stored no summary and no curves"))
    return blocks


__all__ = ["MAX_PANELS", "curve_figures", "generic_figures", "summary_blocks"]
