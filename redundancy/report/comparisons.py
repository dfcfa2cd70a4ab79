"""Effects, not means: arms drawn as paired differences against their reference, with intervals.

A figure of means per arm with ±1 SD bands hides what the paired test sees (the
differences) and invites reading overlap as "no difference". Here every arm is a
point at its mean paired difference against the reference arm with its t interval,
one panel per level (keep fraction), the replicates it rests on as small dots, and
no line between levels (two measured fractions say nothing about the ones between).

:func:`difference_figure` draws one such figure; :func:`comparison_blocks` gives the
report's figure and tables for every comparison across the networks of a store
(:mod:`redundancy.replicates`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redundancy.present.format import GREY
from redundancy.present.tables import point_label
from redundancy.store.document import Document
from redundancy.replicates import comparison_table_data
from redundancy.replicates import network_comparisons
from redundancy.report.model import Block, FigureBlock, TableBlock
from redundancy.report.style import PALETTE, new_figure
from redundancy.stats import MeanInterval

MAX_PANELS = 6


@dataclass(frozen=True)
class ArmPoint:
    """One arm at one level: its mean difference with interval, and the differences it averages."""

    arm: str
    interval: MeanInterval
    values: Sequence[float]
    significant: bool = False  # after the family's correction, when there is one


def difference_figure(title: str, panels: Sequence[tuple[str, Sequence[ArmPoint]]], *, reference: str,
                      scale: float = 100.0, unit: str = "points") -> Any:
    """One panel per (level, arms): arms down the y axis, their mean difference (× ``scale``) along x
    with the interval as a bar, each replicate a small dot, a line at 0 (the reference)."""
    panels = list(panels)[:MAX_PANELS]
    arms = list(dict.fromkeys(p.arm for _, points in panels for p in points))
    ncols = min(3, max(1, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(ncols, nrows, height=0.9 + nrows * (0.8 + 0.3 * len(arms)))
    for ax, (level, points) in zip(axes, panels):
        for p in points:
            y = arms.index(p.arm)
            colour = PALETTE[y % len(PALETTE)]
            ax.scatter([v * scale for v in p.values], [y] * len(p.values), s=9, color=colour, alpha=0.35, linewidths=0, zorder=2)
            lo, hi = p.interval.low, p.interval.high
            if lo is not None and hi is not None:
                ax.errorbar([p.interval.mean * scale], [y], xerr=[[(p.interval.mean - lo) * scale], [(hi - p.interval.mean) * scale]],
                            fmt="o", mfc=colour if p.significant else "white", color=colour,
                            capsize=3, markersize=5, zorder=3)
            else:
                ax.plot([p.interval.mean * scale], [y], "o", color=colour, mfc="white", markersize=5, zorder=3)
        ax.axvline(0.0, color=GREY, linewidth=0.9, linestyle="--")
        ax.set_yticks(range(len(arms)), arms, fontsize=7)
        ax.set_ylim(len(arms) - 0.5, -0.5)
        ax.set_title(level, fontsize=9)
        ax.set_xlabel(f"difference from {reference} ({unit})", fontsize=8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def comparison_blocks(doc: Document, model: str) -> list[Block]:
    """A figure and tables per comparison of arms across the store's networks."""
    blocks: list[Block] = []
    for c in network_comparisons(doc):
        panels = []
        for level in c.levels:
            points = [ArmPoint(e.arm, e.test.difference, e.differences, e.p_holm is not None and e.p_holm < 0.05)
                      for e in c.effects if e.level == level]
            if points:
                panels.append((level, points))
        where = f" at {point_label(c.point)}" if c.point else ""
        n = len(c.networks)
        references = sorted({e.reference for e in c.effects})
        reference = references[0] if len(references) == 1 else "its reference"
        scale, unit = (100.0, "accuracy points") if c.kind == "unit_ticket" else (100.0, "AUC × 100")
        if panels and not c.conditional:  # one network: the table says it all, and says it is conditional
            title = f"{c.study}{where}: each arm against {reference} over {n} network{'s' if n != 1 else ''} of {model}"
            fig = difference_figure(title, panels, reference=reference, scale=scale, unit=unit)
            caption = (f"Each point is an arm's mean paired difference from {reference} over networks (a dot per network), "
                       f"with its {c.confidence:.0%} t interval; filled when Holm's p < 0.05. " + c.note())
            blocks.append(FigureBlock(key=f"{c.study}-{point_label(c.point) if c.point else 'all'}", title=title,
                                      figure=fig, caption=caption))
        for t in comparison_table_data(c):
            blocks.append(TableBlock(title=t.title, columns=t.columns, rows=[[str(x) for x in r] for r in t.rows], caption=t.caption))
    return blocks
