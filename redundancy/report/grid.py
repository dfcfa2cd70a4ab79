"""A grid store's headline numbers against its axes: tables and one figure per study.

The numbers come from :func:`redundancy.grid.grid_summary` (the same lines
``show`` prints): every study's headline numbers by grid point, mean ± std over
the seed axis. The figure draws each headline number against the first grid
axis with a numeric value (e.g. ``model.width``), one line per value of any
other axis, so a width sweep's trend (Neyshabur's distance shrinking with width,
Casper's repeated units growing) is one glance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.ticker import NullLocator

from redundancy.grid import grid_summary
from redundancy.present.tables import grid_table_data, point_label
from redundancy.present.format import label as readable
from redundancy.report.model import Block, FigureBlock, TableBlock
from redundancy.report.style import PALETTE, new_figure

MAX_PANELS = 6  # headline numbers drawn per study; the table beneath has them all


def _numeric_axis(summary: dict[str, Any]) -> str | None:
    for axis in summary["group_axes"]:
        values = summary["axes"][axis]
        if len(values) >= 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return axis
    return None


def _figure(summary: dict[str, Any], t: dict[str, Any], axis: str, model: str, over: str) -> FigureBlock | None:
    metrics = [m for m in t["metrics"] if any((r["cells"].get(m) or {}).get("mean") is not None for r in t["rows"])][:MAX_PANELS]
    if not metrics:
        return None
    others = [a for a in summary["group_axes"] if a != axis]
    series: dict[str, list[dict[str, Any]]] = {}
    for r in t["rows"]:
        key = point_label({a: r["point"].get(a) for a in others}) if others else ""
        series.setdefault(key, []).append(r)
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig, axes = new_figure(ncols, nrows, height=2.4 * nrows + 0.6)
    values = [float(v) for v in summary["axes"][axis]]
    log_x = min(values) > 0 and max(values) / min(values) >= 4  # a width sweep 0.25..4 reads best in ratios
    for ax, metric in zip(axes, metrics):
        for i, (label, rows) in enumerate(series.items()):
            x = np.array([float(r["point"][axis]) for r in rows])
            cells = [r["cells"].get(metric) or {} for r in rows]
            y = np.array([np.nan if c.get("mean") is None else c["mean"] for c in cells], dtype=float)
            err = np.array([np.nan if c.get("std") is None else c["std"] for c in cells], dtype=float)
            order = np.argsort(x)
            ax.errorbar(x[order], y[order], yerr=np.nan_to_num(err[order]), marker="o", color=PALETTE[i % len(PALETTE)],
                        label=label or None)
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values])  # ticks at the grid's own values, nowhere else
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(readable(axis.split(".")[-1]))
        ax.set_ylabel(readable(metric), fontsize=7.5)
        if len(series) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    what = "training runs" if t["kind"] == "train" else t["study"]
    title = f"Grid: {what} of {model} against {axis}"
    fig.suptitle(title)
    caption = (
        f"Headline numbers of {t['study']} at each value of {axis}{over}; error bars are the standard deviation "
        "over seeds (none with a single seed). The table beneath has every number."
    )
    return FigureBlock(key=f"grid-{t['study']}", title=title, figure=fig, caption=caption)


def grid_blocks(doc: dict[str, Any], model: str) -> list[Block]:
    """Tables (and figures along a numeric axis) for a store whose spec has a grid; nothing otherwise."""
    summary = grid_summary(doc)
    if not summary["axes"]:
        return []
    seeds = summary["axes"].get(summary["seed_axis"]) if summary["seed_axis"] else None
    over = f", mean ± std over {len(seeds)} seeds" if seeds else ""
    axis = _numeric_axis(summary)
    blocks: list[Block] = []
    tables = iter(grid_table_data(summary, transpose=False, prefix="Grid: "))
    for t in summary["tables"]:
        if not t["rows"]:
            continue
        if axis is not None:
            fig = _figure(summary, t, axis, model, over)
            if fig is not None:
                blocks.append(fig)
        data = next(tables)
        columns = [c.split(".")[-1] for c in data.columns[: len(summary["group_axes"])]] + ["stages done", *data.columns[len(summary["group_axes"]) + 1:]]
        blocks.append(TableBlock(title=data.title, columns=columns, rows=data.rows))
    return blocks
