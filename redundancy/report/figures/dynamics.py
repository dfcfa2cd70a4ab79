"""Dynamics: per layer, each self-regularization signature against training iteration.

Small multiples share the iteration axis (log scale past 1, since checkpoints
are usually log-spaced, with iteration 0 at the origin), one panel per
metric the study stored, so the reader sees at a glance which signatures grew
during training (seed §2.1, §3.2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from redundancy.report.figures.registry import register
from redundancy.store.keys import tensor_path
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, as_floats, table_blocks
from redundancy.report.style import BLUE, GREY, SKY_BLUE, VERMILLION, integer_ticks, legend_below, new_figure, plain_ticks, wrap

# metric -> axis label (with units); metrics not named here are drawn with their key as label.
METRICS: dict[str, str] = {
    "frame_potential": "frame potential FP(Ŵ)",
    "fp_ratio": "FP / tight-frame bound",
    "distance_from_init": "‖W − Z‖_F",
    "relative_distance": "‖W − Z‖_F / ‖Z‖_F",
    "stable_rank": "stable rank ‖W‖²_F / ‖W‖²₂",
    "spikes": "eigenvalues above MP edge",
    "alpha": "power-law tail exponent α",
    "mean_angle_to_centre": "mean angle to centre (°)",
    "repeated_pairs": "repeated unit pairs",
    "repeated_fraction": "repeated pairs (fraction of all pairs)",
    "removable_units": "removable units",
}


COUNTS = {"spikes", "repeated_pairs", "removable_units"}


def _panels(group: Mapping[str, Any]) -> list[str]:
    named = [k for k in METRICS if isinstance(group.get(k), list)]
    others = sorted(
        k for k, v in group.items()
        if k not in METRICS and k != "iteration" and isinstance(v, list) and len(v) == len(group["iteration"])
        and all(x is None or isinstance(x, (int, float)) for x in v)
    )
    return named + others


MAX_PATHS = 120  # units drawn as paths; more turn the picture into ink


def trajectory_figure(view: StageView, layer: str) -> FigureBlock | None:
    """Unit directions moving through training (PCA plane), beside angles to the K-Means centres at init vs end."""
    names = set(view.result_names())
    points_path = tensor_path(layer, "trajectory", "points")
    angles_path = tensor_path(layer, "clustering", "angles")
    if points_path not in names and angles_path not in names:
        return None
    wanted = [p for p in (points_path, tensor_path(layer, "trajectory", "explained"), angles_path) if p in names]
    data = view.result_tensors(wanted)
    panels = [p for p in (points_path, angles_path) if p in data]
    fig, axes = new_figure(len(panels), height=3.4, legends="each")
    for ax, key in zip(axes, panels):
        if key == points_path:
            pts = np.asarray(data[points_path], dtype=float)  # (T checkpoints, n units, 2)
            step = max(1, pts.shape[1] // MAX_PATHS)
            for u in range(0, pts.shape[1], step):
                ax.plot(pts[:, u, 0], pts[:, u, 1], color=GREY, linewidth=0.5, alpha=0.6)
            ax.scatter(pts[0, ::step, 0], pts[0, ::step, 1], s=6, color=SKY_BLUE, label="initialization", zorder=3)
            ax.scatter(pts[-1, ::step, 0], pts[-1, ::step, 1], s=6, color=VERMILLION, label="last checkpoint", zorder=3)
            explained = data.get(tensor_path(layer, "trajectory", "explained"))
            ev = [f" ({100 * float(x):.0f}% of variance)" for x in explained] if explained is not None else ["", ""]
            ax.set_xlabel(wrap(f"principal axis 1{ev[0]}", 34))
            ax.set_ylabel(wrap(f"principal axis 2{ev[1]}", 40))
            shown = len(range(0, pts.shape[1], step))
            ax.set_title(f"unit directions ŵᵢ over training\n({shown} of {pts.shape[1]} units)", fontsize=9)
            legend_below(ax, ncols=2)
        else:
            angles = np.asarray(data[angles_path], dtype=float)  # (T, n) degrees
            lo, hi = float(np.nanmin(angles)), float(np.nanmax(angles))
            bins = np.linspace(max(0.0, lo - 1.0), hi + 1.0, 31)
            ax.hist(angles[0], bins=bins, color=SKY_BLUE, alpha=0.7, label="initialization")
            ax.hist(angles[-1], bins=bins, histtype="step", color=VERMILLION, linewidth=1.5, label="last checkpoint")
            ax.set_xlabel("angle of unit to its closest\nK-Means centre (°)")
            ax.set_ylabel("number of units")
            ax.set_title("clustering of unit directions", fontsize=9)
            legend_below(ax, ncols=2)
    title = f"Unit directions of {layer} in {view.provenance.model}: paths and clustering"
    fig.suptitle(title)
    caption = (
        "Left: every unit's normalized weight vector at each checkpoint, projected on the two principal axes fitted "
        "to all checkpoints together; paths run from initialization to the last checkpoint. Right: angles to the "
        "closest of the spherical K-Means centres, at initialization and at the end (Brutzkus & Globerson: trained "
        "units sit closer to their centres)."
    )
    return FigureBlock(key=f"{layer}-directions", title=title, figure=fig, caption=caption)


@register("dynamics")
def dynamics_figures(view: StageView) -> list[Block]:
    results = view.results
    groups = [(c.key.get("layer"), c.series) for c in results.curves if c.x == "iteration" and any(k in c.series for k in METRICS)]
    if not groups:
        return [NoteBlock(f"dynamics {view.label}: no per-layer curves with an iteration axis in the stored study")]
    blocks: list[Block] = []
    summary_used = False
    for layer, group in groups:
        where = str(layer or "layer")
        metrics = _panels(group)
        it = as_floats(group["iteration"])
        ncols = 3 if len(metrics) > 4 else 2
        nrows = max(1, math.ceil(len(metrics) / ncols))
        fig, axes = new_figure(ncols, nrows, height=1.9 * nrows + 0.6)
        for ax, metric in zip(axes, metrics):
            y = as_floats(group[metric])
            finite = np.isfinite(y)
            ax.plot(it[finite], y[finite], color=BLUE, marker="o", markersize=3)
            if not finite.any():
                # e.g. α on a layer too small for a fit: say so in the panel rather than leave it blank
                ax.text(0.5, 0.5, "not defined at any checkpoint\n(e.g. layer too small to fit)", transform=ax.transAxes,
                        ha="center", va="center", fontsize=7, color=GREY)
                ax.set_yticks([])
            elif not finite.all():
                ax.text(0.5, 0.04, "not defined at some checkpoints", transform=ax.transAxes, ha="center", fontsize=6.5, color=GREY)
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(0, 1.3 * max(float(np.nanmax(it)), 1.0) if it.size else 1.0)  # room for the last point
            plain_ticks(ax, "x")
            if metric in COUNTS and finite.any():
                integer_ticks(ax, "y")
                ax.set_ylim(min(0.0, float(np.min(y[finite]))), max(1.0, 1.05 * float(np.max(y[finite]))))
            ax.set_ylabel(METRICS.get(metric, metric.replace("_", " ")), fontsize=7.5)
            ax.set_xlabel("iteration (log scale)", fontsize=7.5)
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        title = f"Training dynamics of {where} in {view.provenance.model}"
        fig.suptitle(title)
        caption = (
            "Each panel one signature of self-regularization against training iteration: frame potential and its "
            "ratio to the tight-frame bound (clustering of unit directions), distance from initialization "
            "(Neyshabur et al.), eigenvalues above the Marchenko–Pastur edge, stable rank and tail exponent α "
            "(Martin & Mahoney), angle to the K-Means centre (Brutzkus & Globerson), repeated and removable units "
            "(Casper et al.)."
        )
        blocks.append(FigureBlock(key=where, title=title, figure=fig, caption=caption))
        if layer is not None:
            paths = trajectory_figure(view, str(layer))
            if paths is not None:
                blocks.append(paths)
        own = next((r.values for r in results.rows(layer=layer)), None)
        if own:
            blocks.extend(table_blocks(own, f"Dynamics summary: {where}"))
            summary_used = True
    if not summary_used and view.summary:
        blocks.extend(table_blocks(view.summary, f"Dynamics summary: {view.label}"))
    return blocks
