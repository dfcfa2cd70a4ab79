"""Pruning: the seed's Figure 2, test accuracy against units removed, one figure per studied layer.

One line per criterion and direction (colour = criterion, line style =
direction: solid removes the smallest scores first, dashed the largest), and
the random baseline as the mean over its seeds with ±1 standard deviation
error bars, as in the seed. The study's summary table (accuracy at fixed
fractions removed, area under the curve) goes beneath each figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.report.figures import register
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, as_floats, find_groups, summary_tables
from redundancy.report.style import DIRECTION_MARKERS, DIRECTION_STYLES, colour, new_figure, percent_axis
from redundancy.store import open_h5

DIRECTION_WORDS = {"smallest": "smallest first", "largest": "largest first"}


def is_pruning_group(tree: Mapping[str, Any]) -> bool:
    """A layer's curves: some entry is a curve with a ``units_removed`` axis."""
    return any(isinstance(v, Mapping) and "units_removed" in v for v in tree.values())


def layer_units(view: StageView, layer: str) -> int | None:
    """Units of ``layer`` in the studied run (rows of its weight), read from the stored shape only."""
    if view.run is None:
        return None
    name = f"blocks.{layer}.layer.weight"
    with open_h5(view.run.path) as f:
        if "checkpoints" not in f:
            return None
        for it in f["checkpoints"]:
            if name in f["checkpoints"][it]:
                return int(f["checkpoints"][it][name].shape[0])
    return None


def _label(key: str) -> tuple[str, str, str]:
    """``magnitude:smallest`` -> (criterion, direction, legend text)."""
    criterion, _, direction = key.partition(":")
    words = criterion.replace("_", " ")
    if direction:
        words += f", {DIRECTION_WORDS.get(direction, direction)}"
    return criterion, direction, words


def _draw(ax: Any, group: Mapping[str, Any]) -> None:
    keys = [k for k, v in group.items() if isinstance(v, Mapping) and "units_removed" in v]
    # Criteria in a stable order: named ones first, random (the baseline) last.
    keys.sort(key=lambda k: (k.startswith("random"), _label(k)[0], 0 if _label(k)[1] != "largest" else 1))
    for i, key in enumerate(keys):
        curve = group[key]
        x = as_floats(curve["units_removed"])
        y = as_floats(curve.get("accuracy"))
        criterion, direction, label = _label(key)
        if "std" in curve:
            std = as_floats(curve["std"])
            n_seeds = len(curve.get("seeds") or [])
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


def _panel_key(view: StageView, path: tuple[str, ...]) -> str:
    """``<layer>@<checkpoint>`` of a panel: its key in the curves, or, for a study with a single
    panel stored as the curves themselves, the one ``results/<lc>/units_removed`` tensor."""
    if path:
        return path[-1]
    panels = [n.removesuffix("/units_removed") for n in view.dataset_names("results") if n.endswith("/units_removed")]
    return panels[0] if len(panels) == 1 else ""


def _panel_summary(view: StageView, lc: str, several: bool) -> dict[str, Any]:
    """The summary rows of one panel: keys ``"<lc> <curve>"`` when the study has several panels."""
    if not several:
        return dict(view.summary)
    prefix = f"{lc} "
    return {k[len(prefix):]: v for k, v in view.summary.items() if k.startswith(prefix)}


def _iteration(view: StageView, lc: str) -> int | None:
    if lc and f"{lc}/iteration" in view.dataset_names("results"):
        return int(view.read(f"results/{lc}/iteration"))
    return None


@register("pruning")
def pruning_figures(view: StageView) -> list[Block]:
    groups = find_groups(view.curves, is_pruning_group)
    if not groups:
        return [NoteBlock(f"pruning {view.label}: no curves with a units_removed axis in the stored study")]
    cfg = view.config
    several = len(groups) > 1 or bool(groups[0][0])
    blocks: list[Block] = []
    for path, group in groups:
        lc = _panel_key(view, path)
        layer, _, checkpoint = lc.partition("@")
        if not layer and isinstance(cfg.get("layer"), str):
            layer = cfg["layer"]
        n = next((int(v["units"]) for v in group.values() if isinstance(v, Mapping) and "units" in v), None)
        if n is None and layer:
            n = layer_units(view, layer)
        iteration = _iteration(view, lc)
        where = layer or "layer"
        state = ""
        if checkpoint:
            state = f"checkpoint {checkpoint}" + (f" (iteration {iteration})" if iteration is not None and checkpoint != str(iteration) else "")
            where += f" at {state}"
        fig, (ax,) = new_figure(1, height=3.9)
        _draw(ax, group)
        xlabel = f"units removed from {layer}" if layer else "units removed"
        ax.set_xlabel(xlabel + (f" (of {n})" if n else ""))
        ax.set_ylabel("test accuracy" if cfg.get("split", "test") == "test" else "validation accuracy")
        percent_axis(ax)
        ax.set_ylim(bottom=0.0)
        if n:
            top = ax.secondary_xaxis("top", functions=(lambda u, n=n: 100.0 * u / n, lambda p, n=n: p * n / 100.0))
            top.set_xlabel("units removed (% of the layer)")
        ax.legend(loc="lower left", title=state or None, title_fontsize=8)
        fig.suptitle(f"Pruning {layer or 'a layer'} of {view.provenance.model} without retraining")
        title = f"Pruning {where} of {view.provenance.model} without retraining"
        caption = (
            "Accuracy after removing units one criterion at a time (greedy, no retraining). Solid lines remove the "
            "smallest scores first, dashed lines the largest; the random baseline is the mean over its seeds with "
            "error bars of one standard deviation (the seed's Figure 2)."
        )
        blocks.append(FigureBlock(key=lc or layer or "layer", title=title, figure=fig, caption=caption))
        own = _panel_summary(view, lc, several)
        if own:
            blocks.extend(summary_tables(
                own, f"Pruning summary: {where}",
                caption="acc@p%: accuracy with p % of the units removed; auc: area under accuracy against the fraction removed.",
            ))
    return blocks
