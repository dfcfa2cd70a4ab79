"""View of a ``correspondence`` study: units matched across networks, paths between them, teacher units.

Its typed records (``docs/results.md``) name their ``section``. The table is the
summary (the barriers first, then the matched similarities, the pruning overlap,
the stability per rewind iteration or the teacher's units, each a table of its
own). Panels: loss and error along the linear path per alignment; the fraction of
units matched above each threshold against the null of random pairs; the barrier
against the rewind iteration; the students per teacher unit.
"""

from __future__ import annotations

from typing import Any

from redundancy.store.results import Results
from redundancy.tui.model import Panel, PlotPanel
from redundancy.tui.views.base import StudyView, curve_panel, line, screen_table


def table(summary: dict[str, Any]) -> Any:
    order = ("path", "stability", "teacher", "similarity", "pruning")
    ordered = {k: summary[k] for k in order if k in summary}
    ordered.update({k: v for k, v in summary.items() if k not in ordered})
    return screen_table(ordered)


def panels(results: Results) -> list[Panel]:
    out: list[Panel] = []
    paths = results.select(section="path")
    for ykey, title in (("loss", "test loss along the linear path θ(α), per alignment"), ("error", "test error along the linear path")):
        panel = curve_panel(paths, title, ykey, "α", ykey)
        if panel is not None:
            out.append(panel)
    stability = results.select(section="stability")
    for ykey, title in (("loss_barrier", "loss barrier between copies vs rewind iteration"), ("error_barrier", "error barrier between copies vs rewind iteration")):
        panel = curve_panel(stability, title, ykey, "rewind iteration", ykey)
        if panel is not None:
            out.append(panel)
    sims = results.select(section="similarity")
    lines = []
    for c in sims:
        label = " ".join(str(c.key.get(f)) for f in ("pair", "layer", "matching") if c.key.get(f) is not None)
        for ykey, tag in (("matched_fraction", "matched"), ("null_fraction", "null")):
            s = line(f"{label} {tag}", c, ykey)
            if s is not None:
                lines.append(s)
    if lines:
        out.append(PlotPanel("fraction of units matched above a similarity (matched pairs and random pairs)", "threshold", "fraction of units", lines))
    teacher = results.select(section="teacher")
    for ykey, title in (("students", "student units specialized to each teacher unit"), ("share", "share of the students' output weight per teacher unit")):
        panel = curve_panel(teacher, title, ykey, "teacher unit", ykey)
        if panel is not None:
            out.append(panel)
    return out


VIEW = StudyView("correspondence", table, panels, "units matched across networks; loss along the linear path before and after alignment; teacher units")
