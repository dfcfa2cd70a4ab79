"""Training curves: loss and accuracy against iteration for one run (the metric series of its train stage)."""

from __future__ import annotations

import numpy as np

from redundancy.report.figures.registry import register
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView
from redundancy.report.style import colour, legend_below, new_figure, percent_axis, plain_ticks
from redundancy.store import layout as L

# metric name in the store -> (split role, legend label)
LOSSES = (("train_loss", "train", "train (mean since last eval)"), ("val_loss", "validation", "validation"), ("test_loss", "test", "test"))
ACCURACIES = (("val_accuracy", "validation", "validation"), ("test_accuracy", "test", "test"))


@register("train")
def training_figures(view: StageView) -> list[Block]:
    metrics = {n: np.asarray(v, dtype=float) for n, v in view.metrics().items()}
    if "iteration" not in metrics:
        return [NoteBlock(f"run {view.label}: no iteration series in the metrics of {view.info.id}; nothing to draw")]
    it = metrics["iteration"]
    best = view.info.attrs.get(L.A_BEST_ITERATION)

    fig, (loss_ax, acc_ax) = new_figure(2, legends="shared")
    for key, role, label in LOSSES:
        if key in metrics:
            loss_ax.plot(it, metrics[key], color=colour(role), label=label)
    positive = [metrics[k] for k, _, _ in LOSSES if k in metrics]
    if positive and all(np.all(v[np.isfinite(v)] > 0) for v in positive):
        loss_ax.set_yscale("log")  # losses span decades once the training loss approaches zero
        plain_ticks(loss_ax, "y")
    loss_ax.set_xlabel("iteration")
    loss_ax.set_ylabel("cross-entropy loss (nats)")
    loss_ax.set_title("loss")

    for key, role, label in ACCURACIES:
        if key in metrics:
            acc_ax.plot(it, metrics[key], color=colour(role), label=label)
    acc_ax.set_xlabel("iteration")
    acc_ax.set_ylabel("accuracy")
    percent_axis(acc_ax)
    acc_ax.set_title("accuracy")
    for ax in (loss_ax, acc_ax):
        if best is not None:
            ax.axvline(float(best), color="#6E6E6E", linestyle=":", linewidth=1.0, label=f"min. validation loss (it. {int(best)})")
    # One legend under both panels: a split has one colour in both, so each label is listed once.
    entries: dict[str, object] = {}
    for ax in (loss_ax, acc_ax):
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    legend_below(loss_ax, list(entries.values()), list(entries), ncols=2)
    final = view.info.attrs.get(L.A_TEST_ACCURACY)
    title = f"Training of {view.provenance.model} on {view.provenance.data}"
    if view.label != "run":  # a grid point: name it; a spec without a grid has the single run "run"
        title += f", run {view.label}"
    fig.suptitle(title)
    caption = (
        "Loss and accuracy against training iteration; the dotted line marks the iteration of minimum "
        "validation loss (the seed's iteration j, the checkpoint `best` refers to)."
    )
    if isinstance(final, float):
        caption += f" Final test accuracy {final:.2%}."
    return [FigureBlock(key="curves", title=title, figure=fig, caption=caption)]
