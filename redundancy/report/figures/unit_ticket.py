"""Unit tickets: test accuracy of the smaller network against the fraction of units kept, per arm.

One line per arm (selector and init) with ±1 std over seeds as a band; the
arms from their own initial weights solid, from a fresh init dashed, so the
question "do the chosen units carry a ticket?" reads as solid above dashed.
The per-fraction comparison with ``random:reinit`` (paired t-test) follows as a table.
"""

from __future__ import annotations

from redundancy.report.figures import register
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, TableBlock, as_floats, fmt
from redundancy.report.style import PALETTE, legend_below, new_figure, percent_axis

INIT_STYLES = {"original": "-", "reinit": "--"}


@register("unit_ticket")
def unit_ticket_figures(view: StageView) -> list[Block]:
    results = view.results
    arms = [c for c in results.curves if c.x == "keep_fraction" and "accuracy" in c.series]
    blocks: list[Block] = []
    if arms:
        fig, (ax,) = new_figure(1, height=3.8, legends="shared")
        selectors = list(dict.fromkeys(str(c.key.get("selector")) for c in arms))
        for c in arms:
            x, y = as_floats(c.series["keep_fraction"]), as_floats(c.series["accuracy"])
            colour = PALETTE[selectors.index(str(c.key.get("selector"))) % len(PALETTE)]
            ax.plot(x, y, color=colour, linestyle=INIT_STYLES.get(str(c.key.get("init")), ":"), marker="o", markersize=3, label=str(c.key.get("arm")))
            if "accuracy_std" in c.series:
                sd = as_floats(c.series["accuracy_std"])
                ax.fill_between(x, y - sd, y + sd, color=colour, alpha=0.12, linewidth=0)
        dense = results.scalars.get("dense_accuracy")
        if isinstance(dense, (int, float)):
            ax.axhline(float(dense), color="#6E6E6E", linewidth=0.8, linestyle=":", label="dense network")
        ax.set_xlabel("fraction of units kept")
        ax.set_ylabel("test accuracy")
        percent_axis(ax, "y")
        percent_axis(ax, "x")
        legend_below(ax, ncols=3, fontsize=6.5)
        title = f"Unit tickets in {view.provenance.model}: accuracy of the smaller network ({view.label})"
        fig.suptitle(title)
        caption = ("Each arm keeps the units its selector chooses and trains the smaller network, from the kept units' "
                   "own initial weights (solid) or a fresh init (dashed); bands are ±1 std over seeds.")
        blocks.append(FigureBlock(key="accuracy", title=title, figure=fig, caption=caption))
    else:
        blocks.append(NoteBlock(f"unit_ticket {view.label}: no arm curves with a kept-fraction axis in the stored study"))
    rows = results.rows(arm=None)
    if rows:
        columns = list(dict.fromkeys(k for r in rows for k in r.values))
        blocks.append(TableBlock(
            title=f"Unit tickets: best arm against random:reinit ({view.label})",
            columns=["kept", *columns],
            rows=[[fmt(r.key.get("keep")), *(fmt(r.values.get(c)) for c in columns)] for r in rows],
        ))
    return blocks
