"""View of a ``unit_ticket`` study: accuracy of the smaller network against the fraction of units kept.

Its typed curves (``docs/results.md``) are keyed by arm (selector, the
checkpoint it read, init) with ``x = keep_fraction``. The table is the
per-fraction comparison of the best arm with ``random:reinit``; the arms'
own accuracies per fraction follow as a second panel.
"""

from __future__ import annotations

from typing import Any

from redundancy.store.results import Results
from redundancy.tui.model import Panel, Table, TablePanel
from redundancy.tui.views.base import StudyView, curve_panel, screen_table


def table(summary: dict[str, Any]) -> Table:
    """One row per fraction kept: the best arm, its accuracy, the reference's and the paired test, whose
    seeds share one trained network (the caption says so; the store's view compares across networks)."""
    out = screen_table({k: v for k, v in summary.items() if str(k).startswith("keep ")}, "kept")
    note = ("best arm chosen and tested on the same seeds of one network: conditional on that network; "
            "a seed grid's store compares the arms across networks")
    out.caption = f"{out.caption}; {note}" if out.caption else note
    return out


def panels(results: Results) -> list[Panel]:
    out: list[Panel] = []
    for ykey, title, ylabel in (
        ("accuracy", "test accuracy of the smaller network vs fraction of units kept (mean ± std over seeds)", "accuracy"),
        ("early_stop_accuracy", "test accuracy at its best validation loss", "accuracy"),
    ):
        panel = curve_panel(results.curves, title, ykey, "fraction kept", ylabel, label=lambda c, fields: str(c.key.get("arm")))
        if panel is not None:
            out.append(panel)
    arms = [r for r in results.summary if r.key.get("arm")]
    if arms:
        columns = list(dict.fromkeys(k for r in arms for k in r.values))
        out.append(TablePanel("accuracy per arm", Table(["arm", *columns], [[r.key["arm"], *(r.values.get(c) for c in columns)] for r in arms])))
    return out


VIEW = StudyView("unit_ticket", table, panels, "accuracy vs fraction of units kept per selector and init; best arm against random:reinit")
