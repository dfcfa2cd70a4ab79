"""View of a ``lottery`` study: ticket accuracy per round beside its controls, and
whether the surviving weights concentrate on few units.

Its typed curves (``docs/results.md``): one per variant (ticket, reinit,
random_mask) against the round, and one per layer and direction with the
concentration statistics (dispersion, Gini, empty units ... and their values
under the uniform null). Each
concentration statistic is drawn against its value under the uniform null, so a
gap between the two lines is the concentration.
"""

from __future__ import annotations

from typing import Any

from redundancy.store.results import Curve, Results
from redundancy.tui.model import Panel, PlotPanel, Series, Table, TablePanel
from redundancy.tui.views.base import StudyView, line, numbers, screen_table

# (statistic, its value under the uniform null: the first of these keys present, title)
STATISTICS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("dispersion", ("null_dispersion",), "index of dispersion of surviving weights per unit"),
    ("gini", ("null_gini",), "Gini coefficient of surviving weights per unit"),
    ("empty_units", ("expected_empty_units",), "units with no surviving weight"),
    ("conditional_survival", ("null_conditional_survival", "density"), "P(another weight of the unit survives | one does)"),
    ("p_value", (), "p-value of the uniform null (low = concentrated)"),
)
# Structure that unstructured pruning created: units cut off on one side or both.
STRUCTURE = (("no_incoming", "no incoming"), ("no_outgoing", "no outgoing"), ("disconnected_units", "disconnected"))


def table(summary: dict[str, Any]) -> Table:
    return screen_table(summary, "layer")


def _line(label: str, curve: Curve | None, ykey: str) -> Series | None:
    return line(label, curve, ykey) if curve is not None else None


def per_round_table(results: Results) -> Table | None:
    """Round, sparsity and the accuracy of the ticket and of each control, one row per round."""
    variants = {c.key.get("variant"): c for c in results.curves if c.key.get("variant") is not None}
    ticket = variants.get("ticket")
    rounds = numbers(ticket.series.get("round")) if ticket is not None else None
    if ticket is None or rounds is None:
        return None
    columns = {"sparsity": ticket.series.get("sparsity"), "ticket": ticket.series.get("accuracy"),
               "early stop it": ticket.series.get("early_stop_iteration")}
    for control in ("reinit", "random_mask"):
        if control in variants:
            columns[control] = variants[control].series.get("accuracy")
    for c in results.select(variant=None, direction="incoming"):
        columns[f"sparsity {c.key.get('layer')}"] = c.series.get("sparsity")
    present: dict[str, list[float]] = {}
    for key, raw in columns.items():
        values = numbers(raw)
        if values is not None:
            present[key] = values
    rows = []
    for i, r in enumerate(rounds):
        rows.append([int(r), *(v[i] if i < len(v) else None for v in present.values())])
    return Table(["round", *present], rows)


def panels(results: Results) -> list[Panel]:
    out: list[Panel] = []
    variants = {c.key.get("variant"): c for c in results.curves if c.key.get("variant") is not None}
    if "ticket" not in variants:
        return out
    lines = [_line(v, variants.get(v), "accuracy") for v in ("ticket", "reinit", "random_mask")]
    present = [s for s in lines if s is not None]
    if present:
        out.append(PlotPanel("test accuracy per round: ticket vs controls", "round", "accuracy", present))
    rows = per_round_table(results)
    if rows is not None:
        out.append(TablePanel("per round", rows))
    layers = results.select(variant=None, direction="incoming")
    for stat, nulls, title in STATISTICS:
        lines = []
        for c in layers:
            layer = str(c.key.get("layer"))
            lines.append(_line(layer, c, stat))
            null = next((n for n in nulls if n in c.series), None)
            if null is not None:
                lines.append(_line(f"{layer} {null.replace('_', ' ')}", c, null))
        present = [s for s in lines if s is not None]
        if present:
            out.append(PlotPanel(title, "round", stat.replace("_", " "), present))
    lines = [_line(f"{c.key.get('layer')} {label}", c, key) for c in layers for key, label in STRUCTURE]
    present = [s for s in lines if s is not None]
    if present:
        out.append(PlotPanel("units left with no incoming or no outgoing weight", "round", "units", present))
    return out


VIEW = StudyView("lottery", table, panels, "ticket and control accuracy per round, concentration vs its null")
