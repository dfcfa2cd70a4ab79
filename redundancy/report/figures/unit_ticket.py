"""Unit tickets: each arm's accuracy as a paired difference from ``random:reinit``, per fraction kept.

One panel per keep fraction; every arm a point at its mean paired difference
over the study's seeds with the 95 % t interval, each seed a dot, nothing joining
the fractions (:func:`redundancy.report.comparisons.difference_figure`). The
``<selector>:reinit`` arms other than the reference are the same networks as the
reference (a fresh init makes units exchangeable) and are not drawn. The seeds
share one trained network, so every number here is conditional on it: the
comparison across networks is the store's own section (:mod:`redundancy.replicates`).
The per-fraction comparison of the study's best arm follows as a table.
"""

from __future__ import annotations

from redundancy.report.comparisons import ArmPoint, difference_figure
from redundancy.report.figures.registry import register
from redundancy.report.model import Block, FigureBlock, NoteBlock, StageView, TableBlock, fmt
from redundancy.stats import paired_difference
from redundancy.studies.unit_ticket.results import REFERENCE


@register("unit_ticket")
def unit_ticket_figures(view: StageView) -> list[Block]:
    results = view.results
    arms = {str(c.key.get("arm")): c for c in results.curves if c.x == "keep_fraction" and c.seeds.get("accuracy")}
    blocks: list[Block] = []
    ref = arms.get(REFERENCE)
    drawn = [a for a in arms if a != REFERENCE and not a.endswith(":reinit")]
    if ref is not None and drawn:
        panels = []
        for fi, fraction in enumerate(ref.xs):
            points = []
            for a in drawn:
                seeds_a, seeds_r = arms[a].seeds["accuracy"], ref.seeds["accuracy"]
                if fi < len(seeds_a) and fi < len(seeds_r) and len(seeds_a[fi]) == len(seeds_r[fi]):
                    test = paired_difference(seeds_a[fi], seeds_r[fi])
                    points.append(ArmPoint(a, test.difference, [x - y for x, y in zip(seeds_a[fi], seeds_r[fi])]))
            panels.append((f"keep {float(fraction):.0%}", points))
        n = len(ref.seeds["accuracy"][0]) if ref.seeds["accuracy"] else 0
        title = f"Unit tickets in {view.provenance.model}: each arm against {REFERENCE} ({view.label})"
        fig = difference_figure(title, panels, reference=REFERENCE, scale=100.0, unit="accuracy points")
        caption = (f"Each point is an arm's mean paired difference in test accuracy from {REFERENCE} over the study's {n} "
                   "seeds (a dot per seed) with its 95 % t interval (s with n − 1). The seeds share one trained network: "
                   "the result is conditional on that network; see the store's comparison across networks for more.")
        blocks.append(FigureBlock(key="accuracy", title=title, figure=fig, caption=caption))
    else:
        blocks.append(NoteBlock(f"unit_ticket {view.label}: no per-seed arm accuracies with {REFERENCE} in the stored study"))
    rows = results.rows(arm=None)
    if rows:
        columns = list(dict.fromkeys(k for r in rows for k in r.values))
        blocks.append(TableBlock(
            title=f"Unit tickets: best arm against random:reinit ({view.label})",
            columns=["kept", *columns],
            rows=[[fmt(r.key.get("keep")), *(fmt(r.values.get(c)) for c in columns)] for r in rows],
            caption="The best arm is chosen and tested on the same seeds of one network, so its margin is optimistic "
                    "and conditional on that network; p is not corrected for the choice among arms.",
        ))
    return blocks
