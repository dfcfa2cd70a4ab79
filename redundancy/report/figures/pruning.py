"""Pruning: the seed's Figure 2, test accuracy against units removed, one figure per studied layer.

One line per criterion and direction (colour = criterion, line style =
direction: solid removes the smallest scores first, dashed the largest), and
the random baseline as the mean over its seeds with ±1 standard deviation
error bars, as in the seed. The study's summary table (accuracy at fixed
fractions removed, area under the curve) goes beneath each figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redundancy.present.format import label as readable
from redundancy.report.figures.registry import register
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, as_floats, table_blocks
from redundancy.report.style import DIRECTION_MARKERS, DIRECTION_STYLES, colour, legend_below, new_figure, percent_axis, wrap
from redundancy.store.results import Curve

def _words(criterion: str, direction: str | None) -> str:
    """Legend text of a criterion and direction: ``magnitude, smallest first`` (the shared label table)."""
    return readable(f"{criterion}:{direction}" if direction else criterion)


def _order(c: Curve) -> tuple[Any, ...]:
    """Criteria in a stable order: named ones first, random (the baseline) last."""
    return (c.key.get("criterion") == "random", str(c.key.get("criterion")), c.key.get("direction") == "largest")


def _draw(ax: Any, curves: list[Curve]) -> None:
    for i, curve in enumerate(sorted(curves, key=_order)):
        x = as_floats(curve.series.get("units_removed"))
        y = as_floats(curve.series.get("accuracy"))
        criterion, direction = str(curve.key.get("criterion")), curve.key.get("direction")
        label = _words(criterion, direction)
        if "accuracy_std" in curve.series:
            std = as_floats(curve.series["accuracy_std"])
            n_seeds = len(curve.seeds.get("accuracy") or [])
            every = max(1, len(x) // 60)  # error bars on at most ~60 points, so they stay readable
            ax.errorbar(
                x, y, yerr=std, errorevery=every, color=colour(criterion, i), ecolor=colour(criterion, i),
                elinewidth=0.7, linewidth=1.2, label=f"{label} (mean ± std{f' of {n_seeds} seeds' if n_seeds else ''})",
                zorder=1,
            )
        else:
            every = max(1, len(x) // 12)
            ax.plot(
                x, y, color=colour(criterion, i), linestyle=DIRECTION_STYLES.get(direction, "-"),
                marker=DIRECTION_MARKERS.get(direction, "^"), markevery=every, label=label, zorder=2,
            )


def _draw_finetuned(ax: Any, curves: list[Curve], n: int | None) -> None:
    """Opt-in fine-tuning: accuracy at each fine-tuned level before (hollow) and after (filled) retraining,
    with parameters of the smaller network on the top axis when stored."""
    for i, curve in enumerate(sorted(curves, key=_order)):
        criterion, direction = str(curve.key.get("criterion")), curve.key.get("direction")
        x = as_floats(curve.series.get("finetune_units_removed"))
        after = as_floats(curve.series.get("finetuned_accuracy"))
        before = as_floats(curve.series.get("pruned_accuracy"))
        col, style = colour(criterion, i), DIRECTION_STYLES.get(direction, "-")
        m = min(len(x), len(after))
        ax.plot(x[:m], after[:m], color=col, linestyle=style, marker="o", label=_words(criterion, direction))
        if len(before) >= m and m:
            ax.plot(x[:m], before[:m], color=col, linestyle="none", marker="o", markerfacecolor="none", alpha=0.7)
    ax.set_xlabel("units removed" + (f" (of {n})" if n else "") + "\nhollow: before fine-tuning")
    ax.set_ylabel("test accuracy after fine-tuning")
    percent_axis(ax)
    ax.set_ylim(bottom=0.0)
    ax.set_title("after fine-tuning the smaller network", fontsize=8)
    first = next((c for c in curves if "params" in c.series and "units_removed" in c.series), None)
    if first is not None:
        removed, params = as_floats(first.series["units_removed"]), as_floats(first.series["params"])
        if len(removed) == len(params) and len(removed) > 1 and np.all(np.diff(removed) > 0):
            top = ax.secondary_xaxis("top", functions=(
                lambda u, r=removed, p=params: np.interp(u, r, p) / 1e3, lambda k, r=removed, p=params: np.interp(-k * 1e3, -p, r)))
            top.set_xlabel("parameters of the smaller network (thousands)", fontsize=7)


@register("pruning")
def pruning_figures(view: StageView) -> list[Block]:
    results = view.results
    groups = results.groups("layer", "checkpoint")
    if not groups:
        return [NoteBlock(f"pruning {view.label}: no curves with a units_removed axis in the stored study")]
    cfg = view.config
    blocks: list[Block] = []
    for (layer, checkpoint), curves in groups.items():
        layer = str(layer or "")
        n = next((int(c.key["units"]) for c in curves if isinstance(c.key.get("units"), int)), None)
        iteration = next((c.key["iteration"] for c in curves if isinstance(c.key.get("iteration"), int)), None)
        where = layer or "layer"
        state = ""
        if checkpoint is not None and checkpoint != "":
            state = f"checkpoint {checkpoint}" + (f" (iteration {iteration})" if iteration is not None and checkpoint != iteration else "")
            where += f" at {state}"
        tuned = [c for c in curves if "finetuned_accuracy" in c.series]
        # One legend under the panels: the fine-tuned panel draws the same criteria in the same colours and styles.
        fig, axes = new_figure(2 if tuned else 1, height=3.9, legends="shared")
        ax = axes[0]
        _draw(ax, curves)
        if tuned:
            _draw_finetuned(axes[1], tuned, n)
        xlabel = f"units removed from {layer}" if layer else "units removed"
        ax.set_xlabel(wrap(xlabel + (f" (of {n})" if n else ""), 40 if tuned else 80))
        ax.set_ylabel("test accuracy" if cfg.get("split", "test") == "test" else "validation accuracy")
        percent_axis(ax)
        ax.set_ylim(bottom=0.0)
        if n:
            top = ax.secondary_xaxis("top", functions=(lambda u, n=n: 100.0 * u / n, lambda p, n=n: p * n / 100.0))
            top.set_xlabel("units removed (% of the layer)")
        legend_below(ax, ncols=2, title=state or None, title_fontsize=8)
        fig.suptitle(f"Pruning {where} of {view.provenance.model} without retraining")  # names the weights: best (iteration 500)
        title = f"Pruning {where} of {view.provenance.model} without retraining"
        caption = (
            "Accuracy after removing units one criterion at a time (greedy, no retraining). Solid lines remove the "
            "smallest scores first, dashed lines the largest; the random baseline is the mean over its seeds with "
            "error bars of one standard deviation (the seed's Figure 2)."
            + (" Right: the structurally smaller network of each criterion fine-tuned at the listed levels "
               "(filled) against the same network before fine-tuning (hollow), in the colours and line styles of the left panel." if tuned else "")
        )
        key = "_".join(str(p) for p in (layer, checkpoint) if p not in (None, "")) or "layer"
        blocks.append(FigureBlock(key=key, title=title, figure=fig, caption=caption))
        own = {_words(str(r.key.get("criterion")), r.key.get("direction")): r.values
               for r in results.rows(layer=layer, checkpoint=checkpoint)}
        if own:
            blocks.extend(table_blocks(
                own, f"Pruning summary: {where}",
                caption="acc@p%: accuracy with p % of the units removed; auc: area under accuracy against the fraction removed.",
            ))
    return blocks
