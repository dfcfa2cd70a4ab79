"""A grid store's headline numbers against its axes: tables and one figure per study.

The numbers come from :func:`redundancy.grid.summarize_grid` (the same lines
``show`` prints): every study's headline numbers by grid point, mean ± std over
the seed axis. The figure draws each headline number against the first grid
axis with a numeric value (e.g. ``model.width``), one line per value of any
other axis, so a width sweep's trend (Neyshabur's distance shrinking with width,
Casper's repeated units growing) is one glance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.ticker import NullLocator

from redundancy.grid import GridRow, GridSummary, GridTable, summarize_grid
from redundancy.present.tables import grid_table_data, point_label
from redundancy.present.format import GREY, colour
from redundancy.present.format import label as readable
from redundancy.report.model import Block, FigureBlock, TableBlock
from redundancy.report.style import PALETTE, legend_below, new_figure
from redundancy.store.document import Document

MAX_PANELS = 6  # headline numbers drawn per study; the table beneath has them all


def _numeric_axis(summary: GridSummary) -> str | None:
    for axis in summary.group_axes:
        values = summary.axes[axis]
        if len(values) >= 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return axis
    return None


# A baseline drawn in every panel it belongs to, so each criterion is read against it (pruning's random order).
BASELINES = ("random",)
SNAPPED = ("k_within",)  # metrics that take the first evaluated k, not an exact k: drawn as steps


def _panels(t: GridTable) -> list[tuple[str, list[tuple[str, str]]]]:
    """(statistic, [(series label, metric)]): metrics ``<criterion>/<stat>`` that share a statistic
    share one panel, a line per criterion, with the baseline among them; others get a panel each."""
    metrics = [m for m in t.metrics if any(m in r.cells and r.cells[m].mean is not None for r in t.rows)]
    by_stat: dict[str, list[tuple[str, str]]] = {}
    for m in metrics:
        head, sep, stat = m.rpartition("/")
        by_stat.setdefault(stat if sep else m, []).append((head, m))
    shared = t.kind != "train" and any(len(v) > 1 for v in by_stat.values())
    if shared:
        return [(stat, members) for stat, members in by_stat.items()]
    return [(m, [("", m)]) for m in metrics]


def _figure(summary: GridSummary, t: GridTable, axis: str, model: str, over: str) -> FigureBlock | None:
    panels = _panels(t)[:MAX_PANELS]
    if not panels:
        return None
    others = [a for a in summary.group_axes if a != axis]
    series: dict[str, list[GridRow]] = {}
    for r in t.rows:
        key = point_label({a: r.point.get(a) for a in others}) if others else ""
        series.setdefault(key, []).append(r)
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(ncols, nrows, height=2.6 * nrows + 0.9, legends="each")
    values = [float(v) for v in summary.axes[axis]]
    log_x = min(values) > 0 and max(values) / min(values) >= 4  # a width sweep 0.25..4 reads best in ratios
    seeds = summary.seeds
    spread = f"mean ± std over {len(seeds)} seeds" if seeds and len(seeds) > 1 else "one seed, no error bar"
    for ax, (stat, members) in zip(axes, panels):
        lines = [(f"{readable(head)}" + (f", {label}" if label else ""), m, head, label) for head, m in members for label in series]
        for i, (name, metric, head, label) in enumerate(lines):
            rows = series[label]
            x = np.array([float(r.point[axis]) for r in rows])
            cells = [r.cells.get(metric) for r in rows]
            y = np.array([np.nan if c is None or c.mean is None else c.mean for c in cells], dtype=float)
            err = np.array([np.nan if c is None or c.std is None else c.std for c in cells], dtype=float)
            order = np.argsort(x)
            base = head.split(":")[0] in BASELINES
            ax.errorbar(x[order], y[order], yerr=np.nan_to_num(err[order]), marker="s" if base else "o",
                        color=colour(head.split(":")[0], i) if head else PALETTE[i % len(PALETTE)],
                        linestyle="--" if base else "-", drawstyle="steps-mid" if any(k in stat for k in SNAPPED) else "default",
                        capsize=2, label=name or None)
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values])  # ticks at the grid's own values, nowhere else
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(readable(axis.split(".")[-1]))
        what = readable(stat) if len(members) > 1 or not members[0][0] else readable(members[0][1])
        ax.set_ylabel(f"{what}\n({spread})", fontsize=7.5)
        if any(k in stat for k in SNAPPED):
            ax.set_title("first evaluated k: snaps to the requested ks", fontsize=7, color=GREY)
        if len(lines) > 1:
            legend_below(ax, fontsize=6.5)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    what = "training runs" if t.kind == "train" else t.study
    title = f"Grid: {what} of {model} against {axis}"
    fig.suptitle(title)
    bars = f"error bars are the standard deviation over {len(seeds)} seeds" if seeds and len(seeds) > 1 else "one seed, so no error bars"
    caption = (
        f"Headline numbers of {t.study} at each value of {axis}{over}; {bars}. Criteria of one statistic share "
        "a panel with the random baseline (dashed). First-evaluated-k numbers take the first k the study evaluated "
        "that meets the threshold, so they move in steps. The table beneath has every number."
    )
    return FigureBlock(key=f"grid-{t.study}", title=title, figure=fig, caption=caption)


def grid_blocks(doc: Document | Mapping[str, Any], model: str) -> list[Block]:
    """Tables (and figures along a numeric axis) for a store whose spec has a grid; nothing otherwise."""
    summary = summarize_grid(doc)
    if not summary.axes:
        return []
    seeds = summary.seeds
    over = f", mean ± std over {len(seeds)} seeds" if seeds else ""
    axis = _numeric_axis(summary)
    blocks: list[Block] = []
    tables = iter(grid_table_data(summary, transpose=False, prefix="Grid: "))
    for t in summary.tables:
        if not t.rows:
            continue
        if axis is not None:
            fig = _figure(summary, t, axis, model, over)
            if fig is not None:
                blocks.append(fig)
        data = next(tables)
        columns = [c.split(".")[-1] for c in data.columns[: len(summary.group_axes)]] + ["stages done", *data.columns[len(summary.group_axes) + 1:]]
        blocks.append(TableBlock(title=data.title, columns=columns, rows=data.rows))
    return blocks
