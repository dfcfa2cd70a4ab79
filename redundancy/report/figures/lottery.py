"""Lottery: the ticket against its controls per round, and whether its weights concentrate on few units.

Three kinds of figure, after the seed's §3 question (are a winning ticket's
weights spread uniformly over a layer's nodes, as the hypothesis implies?):

1. accuracy (and early-stop iteration) against the fraction of weights left,
   for the ticket, the re-initialized control and the random-mask control;
2. per layer, the distribution over units of k_i, the number of surviving
   incoming weights, at the last round (read from the masks the study
   stores), against the hypergeometric law k_i follows if the survivors were
   spread uniformly over the layer (the study's own
   :func:`~redundancy.studies.lottery.concentration.hypergeom_pmf`);
3. the concentration statistics per round (index of dispersion, Gini
   coefficient, conditional survival, empty units), each beside its null value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from redundancy.report.figures.registry import register
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, TableBlock, as_floats, fmt, table_blocks
from redundancy.report.style import BLACK, GREY, PALETTE, VERMILLION, colour, integer_ticks, legend_below, new_figure, percent_axis, plain_ticks, wrap
from redundancy.store.keys import tensor_path
from redundancy.store.results import Results
from redundancy.studies.common.masks import unit_counts
from redundancy.studies.lottery.concentration import hypergeom_pmf

ARMS = (("ticket", "winning ticket (rewound)"), ("reinit", "control: same mask, re-initialized"), ("random_mask", "control: random mask, original init"))


# --- the masks the study stores -----------------------------------------------------------------


def last_round_masks(view: StageView, layers: list[str]) -> dict[str, tuple[int, np.ndarray]]:
    """Per layer, (round, mask) of the ticket at its last round.

    The study stores the result tensor ``masks/<layer>`` as (rounds + 1, *weight shape)
    uint8, round 0 the dense all-ones mask; the random-mask control's masks are
    elsewhere (``random_masks/``) and are not what the question is about.
    """
    names = set(view.result_names())
    out: dict[str, tuple[int, np.ndarray]] = {}
    for layer in layers:
        path = tensor_path("masks", layer)
        if path in names:
            mask = view.result_tensors([path], last=True)[path]  # only the last round is read
            out[layer] = (len(_arms(view.results).get("ticket", {}).get("round") or [0]) - 1, mask)
    return out


# --- figures ------------------------------------------------------------------------------------


def _arms(results: Results) -> dict[str, dict[str, list[Any]]]:
    """Each variant's series (ticket, reinit, random_mask): its curve of the typed results."""
    return {str(c.key["variant"]): c.series for c in results.curves if c.key.get("variant") is not None}


def _arm(arms: Mapping[str, Mapping[str, Any]], arm: str, field: str) -> np.ndarray:
    return as_floats(arms.get(arm, {}).get(field))


def accuracy_figure(view: StageView) -> FigureBlock | None:
    arms = _arms(view.results)
    ticket = arms.get("ticket", {})
    remaining = 1.0 - as_floats(ticket.get("sparsity"))  # the total over the pruned layers
    if not remaining.size or "accuracy" not in ticket:
        return None
    panels = [("accuracy", "test accuracy")]
    if ticket.get("early_stop_iteration") is not None:
        panels.append(("early_stop_iteration", "early-stop iteration (min. validation loss)"))
    # One legend under both panels: the early-stop panel draws the same arms in the same colours and styles.
    fig, axes = new_figure(len(panels), height=3.6, legends="shared")
    for ax, (field, ylabel) in zip(axes, panels):
        for i, (arm, label) in enumerate(ARMS):
            y = _arm(arms, arm, field)
            if not y.size:
                continue
            x = remaining[-len(y):] if len(y) <= len(remaining) else remaining
            y = y[: len(x)]
            ax.plot(100.0 * x, y, color=colour(arm, i), marker="o", linestyle="-" if arm == "ticket" else "--", label=label)
        ax.set_xscale("log")
        plain_ticks(ax, "x")
        ax.invert_xaxis()  # pruning proceeds left to right
        ax.set_xlabel("weights remaining (%, log scale)")
        ax.set_ylabel(wrap(ylabel, 32))
        if field == "accuracy":
            percent_axis(ax)
            dense = _arm(arms, "ticket", "accuracy")
            if dense.size:
                ax.axhline(float(dense[0]), color=GREY, linestyle=":", linewidth=1.0, label=f"dense ({float(dense[0]):.1%})")
            legend_below(ax, ncols=2)
    title = f"Lottery tickets of {view.provenance.model}: accuracy per pruning round"
    fig.suptitle(title)
    caption = (
        "Each round trains the masked network, prunes the smallest surviving weights and rewinds the rest. "
        "The re-initialized control keeps the ticket's mask with fresh weights; the random-mask control keeps "
        "the original initialization with a random mask of the same per-layer sparsity."
    )
    return FigureBlock(key="rounds", title=title, figure=fig, caption=caption)


def distribution_figure(view: StageView, layer: str, rnd: int, mask: np.ndarray, stats: Mapping[str, Any]) -> FigureBlock:
    counts = unit_counts(mask)
    m = int(mask[0].size)  # incoming weights per unit (a Conv filter flattened)
    n = len(counts)
    survivors = int(counts.sum())
    # k_i ~ Hyp(N = n·m, K = survivors, m draws) when the survivors are a uniform random subset of the layer.
    pmf = hypergeom_pmf(n * m, survivors, m, np.arange(m + 1))
    expected = n * pmf
    # Bins of integer width covering both the observed counts and the null's bulk.
    cdf = np.cumsum(pmf)
    lo = int(min(counts.min(), np.searchsorted(cdf, 1e-4)))
    hi = int(max(counts.max(), np.searchsorted(cdf, 1 - 1e-4)))
    width = max(1, math.ceil((hi - lo + 1) / 40))
    edges = np.arange(lo, hi + width + 1, width)
    observed, _ = np.histogram(counts, bins=edges - 0.5)
    null = np.array([expected[a:b].sum() for a, b in zip(edges[:-1], edges[1:])])
    centres = edges[:-1] + (width - 1) / 2.0

    fig, (ax,) = new_figure(1, height=3.4, legends="shared")
    ax.bar(centres, observed, width=0.9 * width, color=colour("ticket"), alpha=0.75, label=f"ticket, round {rnd}", zorder=1)
    ax.plot(centres, null, color=VERMILLION, marker="o", markersize=3, linestyle="-", label="hypergeometric null (uniform spread)", zorder=2)
    ax.set_xlabel(f"surviving incoming weights per unit, k_i (of m = {m})")
    ax.set_ylabel("number of units")
    handles, labels = ax.get_legend_handles_labels()  # lines come before bars; the ticket reads first
    legend_below(ax, handles[::-1], labels[::-1], ncols=2)
    density = survivors / (n * m)
    title = f"Lottery ticket of {view.provenance.model}: survivors per unit in {layer}"
    ax.set_title(title)
    parts = [f"{n} units, {survivors} of {n * m} weights survive (density {density:.2%})."]
    for key, label in (("dispersion", "index of dispersion"), ("p_value", "p-value against uniform spread"), ("gini", "Gini")):
        values = as_floats(stats.get(key))
        if values.size:
            null_values = as_floats(stats.get(f"null_{key}"))
            null_text = f" (null {null_values[-1]:.3g})" if null_values.size else ""
            parts.append(f"{label} {values[-1]:.3g}{null_text}")
    caption = (
        "Bars: how many units keep k surviving incoming weights at the last round. Line: the number expected if "
        "the same survivors were spread uniformly at random over the layer. " + "; ".join(parts)
    )
    return FigureBlock(key=f"{layer}-survivors", title=title, figure=fig, caption=caption)


CONCENTRATION_PANELS = (
    ("dispersion", "null_dispersion", "index of dispersion of k_i"),
    ("gini", "null_gini", "Gini coefficient of k_i"),
    ("conditional_survival", "null_conditional_survival", "P(another weight of the unit survives | one does)"),
    ("empty_units", "expected_empty_units", "units with no surviving weight"),
)


def concentration_figure(view: StageView, concentration: Mapping[str, Any], rounds: np.ndarray) -> FigureBlock | None:
    layers = [layer for layer, v in concentration.items() if isinstance(v, Mapping)]
    panels = [p for p in CONCENTRATION_PANELS if any(p[0] in concentration[layer] for layer in layers)]
    if not panels:
        return None
    fig, axes = new_figure(2, 2, height=5.4, legends="shared")
    for ax, (obs, null, ylabel) in zip(axes, panels):
        for i, layer in enumerate(layers):
            stats = concentration[layer]
            y = as_floats(stats.get(obs))
            if not y.size:
                continue
            x = rounds[: len(y)] if len(rounds) >= len(y) else np.arange(len(y))
            col = PALETTE[i % len(PALETTE)]
            ax.plot(x, y, color=col, marker="o", markersize=3, label=layer)
            y0 = as_floats(stats.get(null))
            if y0.size:
                ax.plot(x[: len(y0)], y0[: len(x)], color=col, linestyle="--", linewidth=1.0)
        ax.set_xlabel("pruning round")
        integer_ticks(ax, "x")
        if obs == "empty_units":
            integer_ticks(ax, "y")
            _, top = ax.get_ylim()
            ax.set_ylim(-0.05 * max(1.0, top), max(1.0, top))  # an expected 1e-7 units is zero units, not a scale
        ax.set_ylabel(wrap(ylabel, 32), fontsize=7.5)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(axes[0].plot([], [], color=BLACK, linestyle="--", linewidth=1.0)[0])
    labels.append("null (uniform spread)")
    legend_below(axes[0], handles, labels, ncols=4, fontsize=7)
    title = f"Lottery tickets of {view.provenance.model}: concentration of survivors per round"
    fig.suptitle(title)
    caption = (
        "Solid: the ticket's statistic per layer; dashed: its value under uniform spread of the same number of "
        "survivors (hypergeometric null). Dispersion, Gini, conditional survival or empty units above the null "
        "mean the surviving weights concentrate on fewer units than chance."
    )
    return FigureBlock(key="concentration", title=title, figure=fig, caption=caption)


def p_value_table(concentration: Mapping[str, Any], rounds: np.ndarray) -> TableBlock | None:
    layers = [layer for layer, v in concentration.items() if isinstance(v, Mapping) and "p_value" in v]
    if not layers:
        return None
    width = max(len(concentration[layer]["p_value"]) for layer in layers)
    labels = [str(int(r)) for r in rounds[:width]] if len(rounds) >= width else [str(r) for r in range(width)]
    rows = []
    for layer in layers:
        values = list(concentration[layer]["p_value"]) + [None] * (width - len(concentration[layer]["p_value"]))
        rows.append([layer, *(fmt(v) for v in values)])
    return TableBlock(
        title="Concentration test p-values per round (small: survivors are not spread uniformly)",
        columns=["layer \\ round", *labels],
        rows=rows,
    )


@register("lottery")
def lottery_figures(view: StageView) -> list[Block]:
    results = view.results
    blocks: list[Block] = []
    acc = accuracy_figure(view)
    if acc is not None:
        blocks.append(acc)
    else:
        blocks.append(NoteBlock(f"lottery {view.label}: no per-round sparsity and accuracy in the stored curves"))
    rounds = as_floats(_arms(results).get("ticket", {}).get("round"))
    concentration = {str(c.key["layer"]): c.series for c in results.select(variant=None, direction="incoming")}
    layers = list(concentration)
    if not layers:
        layers = [str(x) for x in (view.config.get("layers") or [])] if isinstance(view.config.get("layers"), list) else []
    masks = last_round_masks(view, layers) if layers else {}
    for layer in layers:
        if layer in masks:
            rnd, mask = masks[layer]
            blocks.append(distribution_figure(view, layer, rnd, mask, concentration.get(layer, {})))
        else:
            blocks.append(NoteBlock(f"lottery {view.label}: no stored mask found for layer {layer}; its survivor distribution is not drawn"))
    if concentration:
        conc = concentration_figure(view, concentration, rounds)
        if conc is not None:
            blocks.append(conc)
        table = p_value_table(concentration, rounds)
        if table is not None:
            blocks.append(table)
    if view.summary:
        blocks.extend(table_blocks(view.summary, f"Lottery summary: {view.label}"))
    return blocks
