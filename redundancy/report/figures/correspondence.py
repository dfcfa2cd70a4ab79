"""Correspondence: loss along the linear path before and after alignment, matched units, teacher units.

Figures: (1) test loss and error along θ(α) for each pair, unaligned dashed and
aligned solid, so "does the barrier vanish after alignment?" is one glance;
(2) the barrier against the rewind iteration for spawned copies (Frankle et al.
2020's stability); (3) the fraction of units matched above each similarity,
against random pairs; (4) student units per teacher unit. The summary follows as tables.
"""

from __future__ import annotations

import numpy as np

from redundancy.report.figures.registry import register
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, as_floats, table_blocks
from redundancy.report.style import PALETTE, legend_below, new_figure, percent_axis

STYLES = {"none": "--", "weights": "-", "activations": "-."}


@register("correspondence")
def correspondence_figures(view: StageView) -> list[Block]:
    results = view.results
    blocks: list[Block] = []
    paths = results.select(section="path")
    stability = results.select(section="stability")
    if paths and not stability:
        fig, axes = new_figure(2, height=3.2, legends="shared")
        pairs = list(dict.fromkeys(str(c.key.get("pair")) for c in paths))
        for ax, ykey, ylabel in zip(axes, ("loss", "error"), ("test loss", "test error")):
            for c in paths:
                colour = PALETTE[pairs.index(str(c.key.get("pair"))) % len(PALETTE)]
                label = f"{c.key.get('pair')} {c.key.get('alignment')}" if len(pairs) > 1 else str(c.key.get("alignment"))
                ax.plot(as_floats(c.series["alpha"]), as_floats(c.series.get(ykey)), color=colour,
                        linestyle=STYLES.get(str(c.key.get("alignment")), ":"), marker="o", markersize=2.5,
                        label=label if ykey == "loss" else None)
            ax.set_xlabel("α  (θ(α) = (1 − α) θ_A + α θ_B)")
            ax.set_ylabel(ylabel)
        percent_axis(axes[1], "y")
        legend_below(axes[0], ncols=3, fontsize=7)
        title = f"Linear path between two networks, before and after aligning their units ({view.label})"
        fig.suptitle(title)
        blocks.append(FigureBlock(key="path", title=title, figure=fig,
                                  caption="Unaligned (dashed) and aligned by weight matching (solid) or activation matching (dash-dot); "
                                          "the barrier is the path's rise above the endpoints' average."))
    if stability:
        fig, axes = new_figure(2, height=3.2, legends="shared")
        for ax, ykey, ylabel in zip(axes, ("loss_barrier", "error_barrier"), ("loss barrier", "error barrier")):
            for i, c in enumerate(stability):
                iterations = as_floats(c.series["rewind_iteration"])
                x, y = np.arange(len(iterations), dtype=float), as_floats(c.series.get(ykey))  # evenly spaced: k spans decades from 0
                ax.plot(x, y, color=PALETTE[i % len(PALETTE)], linestyle=STYLES.get(str(c.key.get("alignment")), ":"), marker="o",
                        markersize=3, label=str(c.key.get("alignment")) if ykey == "loss_barrier" else None)
                sd = c.series.get(f"{ykey}_std")
                if sd is not None:
                    ax.fill_between(x, y - as_floats(sd), y + as_floats(sd), color=PALETTE[i % len(PALETTE)], alpha=0.12, linewidth=0)
            ax.set_xticks(x, [f"{k:g}" for k in iterations])
            ax.set_xlabel("rewind iteration k")
            ax.set_ylabel(ylabel)
        percent_axis(axes[1], "y")
        legend_below(axes[0], ncols=3, fontsize=7)
        title = f"Stability: barrier between copies trained from iteration k with other batch orders ({view.label})"
        fig.suptitle(title)
        blocks.append(FigureBlock(key="stability", title=title, figure=fig,
                                  caption="Mean over pairs of copies (band ±1 std); a copy pair is stable when its barrier is about zero (Frankle et al. 2020)."))
    sims = results.select(section="similarity")
    if sims and not stability:
        fig, (ax,) = new_figure(1, height=3.2, legends="shared")
        for i, c in enumerate(sims):
            colour = PALETTE[i % len(PALETTE)]
            label = " ".join(str(c.key.get(f)) for f in ("layer", "matching"))
            x = as_floats(c.series["threshold"])
            ax.plot(x, as_floats(c.series.get("matched_fraction")), color=colour, marker="o", markersize=3, label=f"{label} matched")
            ax.plot(x, as_floats(c.series.get("null_fraction")), color=colour, linestyle=":", label=f"{label} random pairs")
        ax.set_xlabel("similarity threshold (cosine of weights, correlation of activations)")
        ax.set_ylabel("units above it")
        percent_axis(ax, "y")
        legend_below(ax, ncols=2, fontsize=7)
        title = f"Units matched across networks above a similarity ({view.label})"
        fig.suptitle(title)
        blocks.append(FigureBlock(key="matched", title=title, figure=fig, caption="Dotted: the same similarity for random pairs of units (the null)."))
    teacher = results.select(section="teacher")
    if teacher:
        fig, (ax,) = new_figure(1, height=3.0, legends="shared")
        width = 0.8 / len(teacher)
        for i, c in enumerate(teacher):
            x = as_floats(c.series["teacher_unit"])
            ax.bar(x + (i - (len(teacher) - 1) / 2) * width, as_floats(c.series.get("students")), width=width,
                   color=PALETTE[i % len(PALETTE)], label=f"by {c.key.get('matching')}")
        ax.set_xlabel("teacher unit")
        ax.set_ylabel("student units specialized to it")
        legend_below(ax, ncols=2, fontsize=7)
        title = f"Teacher units: how many student units specialize to each ({view.label})"
        fig.suptitle(title)
        blocks.append(FigureBlock(key="teacher", title=title, figure=fig, caption="A student unit specializes to its most similar teacher unit when |similarity| reaches the study's teacher_threshold."))
    if not blocks:
        blocks.append(NoteBlock(f"correspondence {view.label}: no path, similarity or teacher curves in the stored study"))
    blocks += table_blocks(view.summary, f"Correspondence summary: {view.label}")
    return blocks
