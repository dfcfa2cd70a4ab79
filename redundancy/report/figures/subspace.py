"""Subspace: accuracy when the update W − Z is projected onto k directions, beside its singular values.

Left: accuracy against k (log axis; k = 0, the layer reset to its initial
weights Z, sits on the linear stretch at the origin) for the top, bottom and
random bases, with the unprojected network as a reference line. Right: the
singular-value spectrum of W − Z (and of W when stored), the reason few top
directions can carry the function (Nagarajan & Kolter 2019).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redundancy.report.figures.registry import register
from redundancy.present.format import checkpoint_label
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, as_floats, table_blocks
from redundancy.report.style import BLACK, GREY, VERMILLION, colour, legend_below, new_figure, percent_axis, plain_ticks
from redundancy.store.keys import LayerAt, tensor_path
from redundancy.store.results import Curve

# Short legend labels (the caption spells them out), so the legends under the panels stay narrow.
BASIS_WORDS = {"top": "top k", "bottom": "bottom k", "random": "random k"}
SPECTRUM_WORDS = {"update": "W − Z (update)", "weights": "W (trained weights)", "delta": "W − Z (update)"}


def _spectra(view: StageView, layer: str, checkpoint: Any, target: str, curves: list[Curve]) -> dict[str, np.ndarray]:
    """Singular values of W − Z (and of W) from the stored tensors, else the row's typed spectrum."""
    path = {m: tensor_path(LayerAt(layer, checkpoint), "singular_values", m) for m in ("update", "weights")}
    names = set(view.result_names())
    wanted = [m for m in ("update", "weights") if path[m] in names]
    data = view.result_tensors(path[m] for m in wanted)
    out = {SPECTRUM_WORDS[m]: np.asarray(data[path[m]], dtype=float) for m in wanted}
    if not out:
        for c in curves:
            if c.key.get("basis") is None and "singular_value" in c.series:
                out[SPECTRUM_WORDS.get(target, target)] = as_floats(c.series["singular_value"])
    return out


def _draw_accuracy(ax: Any, curves: list[Curve], target: str, reference: float | None) -> None:
    bases = sorted((c for c in curves if c.key.get("basis") is not None and "accuracy" in c.series),
                   key=lambda c: ({"top": 0, "bottom": 1, "random": 2}.get(str(c.key["basis"]), 3), str(c.key["basis"])))
    for i, curve in enumerate(bases):
        basis = str(curve.key["basis"])
        k = as_floats(curve.series.get("k"))
        acc = as_floats(curve.series["accuracy"])
        label = BASIS_WORDS.get(basis, basis)
        if "accuracy_std" in curve.series:
            std = as_floats(curve.series["accuracy_std"])
            ax.plot(k, acc, color=colour(basis, i), label=f"{label} (mean ± std)")
            ax.fill_between(k, acc - std, acc + std, color=colour(basis, i), alpha=0.18, linewidth=0)
        else:
            ax.plot(k, acc, color=colour(basis, i), marker="o" if len(k) <= 40 else None, label=label)
        if reference is None and basis == "top" and len(k):
            reference = float(acc[int(np.nanargmax(k))])  # k = rank: the unprojected network
    if reference is not None:
        ax.axhline(reference, color=GREY, linestyle=":", linewidth=1.0, label=f"W unprojected ({reference:.1%})")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)
    plain_ticks(ax, "x")
    # Two short lines: three panels share the figure's width, and a label wider than its panel runs into the next.
    if target == "weights":
        ax.set_xlabel("k, directions of W kept\n(log scale; 0 = layer zeroed)", fontsize=8)
    else:
        ax.set_xlabel("k, directions of W − Z kept\n(log scale; 0 = layer reset to Z)", fontsize=8)


def _draw_alignment(ax: Any, curves: list[Curve], target: str, nulls: dict[str, Any] | None = None) -> None:
    """Opt-in alignment: ρ of the removed residual (solid) and of the kept part (dashed) with the layer's
    inputs against k, per basis; beside them the baselines: ρ = 1 (an isotropic matrix of the same norm),
    random matrices whose rows lie in the span of the inputs, and the layer's initial weights."""
    for i, curve in enumerate(curves):
        basis = str(curve.key["basis"])
        k = as_floats(curve.series.get("k"))
        for field, style, what in (("rho_residual", "-", "residual"), ("rho_kept", "--", "kept")):
            y = as_floats(curve.series.get(field))
            if len(y) == len(k) and len(k):
                ax.plot(k, y, color=colour(basis, i), linestyle=style, label=f"{BASIS_WORDS.get(basis, basis)}, {what}")
    ax.axhline(1.0, color=GREY, linestyle=":", linewidth=1.0, label="isotropic (ρ = 1)")
    nulls = nulls or {}
    span, init = nulls.get("data_span"), nulls.get("rho_init")
    if isinstance(span, (int, float)):
        ax.axhline(float(span), color=GREY, linestyle="-.", linewidth=1.0, label=f"rows in the inputs' span (ρ = {span:.3g})")
        if isinstance(nulls.get("data_span_min"), (int, float)) and isinstance(nulls.get("data_span_max"), (int, float)):
            ax.axhspan(float(nulls["data_span_min"]), float(nulls["data_span_max"]), color=GREY, alpha=0.12, linewidth=0)
    if isinstance(init, (int, float)) and target == "update":
        ax.axhline(float(init), color=GREY, linestyle="--", linewidth=0.8, label=f"initial weights Z (ρ = {init:.3g})")
    if isinstance(span, (int, float)) and span > 10:
        ax.set_yscale("log")
        plain_ticks(ax, "y")  # 1, 10, 100: the default labels are mathtext, which the report's style shows literally
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)
    plain_ticks(ax, "x")
    ax.set_xlabel("k, directions kept\n(log scale)", fontsize=8)
    ax.set_ylabel("alignment ρ with the layer's inputs")
    ax.set_title("alignment with the data", fontsize=9)
    legend_below(ax, fontsize=6.5)


@register("subspace")
def subspace_figures(view: StageView) -> list[Block]:
    results = view.results
    groups = {key: curves for key, curves in results.groups("layer", "checkpoint", "target").items()
              if any(c.key.get("basis") is not None for c in curves)}
    if not groups:
        return [NoteBlock(f"subspace {view.label}: no curves with a k axis in the stored study")]
    cfg = view.config
    blocks: list[Block] = []
    for (layer, checkpoint, target), curves in groups.items():
        layer, target = str(layer or cfg.get("layer", "layer")), str(target or "update")
        run_attrs = view.run.attrs if view.run is not None else {}
        where = f"{layer} at {checkpoint_label(checkpoint, run_attrs)}" if checkpoint is not None else layer
        rows = results.rows(layer=layer, checkpoint=checkpoint, target=target)
        full = next((r.values["acc_full"] for r in rows if isinstance(r.values.get("acc_full"), (int, float))), None)
        spectra = _spectra(view, layer, checkpoint, target, curves)
        aligned = [c for c in curves if c.key.get("basis") is not None and "rho_residual" in c.series]
        fig, axes = new_figure((2 if spectra else 1) + bool(aligned), height=3.6, legends="each")
        if aligned:
            nulls = next((r.values for r in results.rows(layer=layer, checkpoint=checkpoint, target="alignment")), None)
            _draw_alignment(axes[-1], aligned, target, nulls)
        acc_ax = axes[0]
        _draw_accuracy(acc_ax, curves, target, None if full is None else float(full))
        acc_ax.set_ylabel("test accuracy" if cfg.get("split", "test") == "test" else "validation accuracy")
        percent_axis(acc_ax)
        # Below the axes: the curves fill the panel wherever k runs, so no inside corner stays free.
        legend_below(acc_ax, fontsize=7)
        acc_ax.set_title("accuracy after projection", fontsize=9)
        if spectra:
            spec_ax = axes[1]
            for (label, values), col, ls in zip(spectra.items(), (VERMILLION, BLACK, GREY), ("-", "--", ":")):
                idx = np.arange(1, len(values) + 1)
                spec_ax.plot(idx, values, color=col, linestyle=ls, label=label)
            spec_ax.set_yscale("log")
            plain_ticks(spec_ax, "y")
            if max(len(v) for v in spectra.values()) > 30:
                spec_ax.set_xscale("log")
                plain_ticks(spec_ax, "x")
                spec_ax.set_xlabel("index i of singular value\n(log scale)", fontsize=8)
            else:
                spec_ax.set_xlabel("index i of singular value", fontsize=8)
            spec_ax.set_ylabel("singular value σᵢ (log scale)")
            spec_ax.set_title("singular-value spectrum", fontsize=9)
            legend_below(spec_ax, fontsize=7)
        matrix = "the weights W" if target == "weights" else "the update W − Z"
        title = f"Subspace of {matrix}: {where} of {view.provenance.model}"
        fig.suptitle(title)
        caption = (
            ("Left: accuracy when the layer's weights are projected onto k directions, U_k U_kᵀ W, "
             if target == "weights" else
             "Left: accuracy when the layer's update W − Z is projected onto k directions, Z + U_k U_kᵀ (W − Z), ")
            + "every other layer unchanged; top and bottom are the leading and trailing left-singular vectors, "
            "random a random k-dimensional subspace (mean ± std over seeds). Right: singular values in decreasing order."
            + (" Last panel: ρ(R) = m‖R Xᵀ‖²_F / (‖R‖²_F ‖X‖²_F) of the removed residual (solid) and the kept part "
               "(dashed) with the layer's evaluation inputs X (m the fan-in), against two baselines: 1, an isotropic matrix "
               "of the same norm, and random matrices whose rows are random combinations of the inputs (so lie in their "
               "span, as a first layer's SGD updates must; band: their range), with the initial weights Z for the update."
               if aligned else "")
        )
        key = "_".join(str(p) for p in (layer, checkpoint, target) if p is not None)
        blocks.append(FigureBlock(key=key, title=title, figure=fig, caption=caption))
        own = {str(r.key.get("basis")): {"rank": r.key.get("rank"), **r.values} for r in rows}
        if own:
            blocks.extend(table_blocks(own, f"Subspace summary: {where}"))
    return blocks
