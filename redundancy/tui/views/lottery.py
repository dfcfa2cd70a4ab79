"""View of a ``lottery`` study: ticket accuracy per round beside its controls, and
whether the surviving weights concentrate on few units.

Curves (issue 5): ``{"rounds", "sparsity", "accuracy", "early_stop_iteration",
"reinit": {"accuracy"}, "random_mask": {"accuracy"}, "concentration": {"<layer>":
{"dispersion", "null_dispersion", "p_value", "gini", "null_gini", "empty_units",
"expected_empty_units", "conditional_survival", "density"}}}``. Each
concentration statistic is drawn against its value under the uniform null, so a
gap between the two lines is the concentration.
"""

from __future__ import annotations

from typing import Any

from redundancy.tui.model import Panel, PlotPanel, Series, Table, TablePanel
from redundancy.tui.views.base import StudyView, numbers, summary_table

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
    return summary_table(summary, "layer")


def _line(label: str, x: list[float], values: Any) -> Series | None:
    y = numbers(values)
    if y is None:
        return None
    n = min(len(x), len(y))
    return Series(label, x[:n], y[:n])


def per_round_table(curves: dict[str, Any]) -> Table | None:
    """Round, sparsity and the accuracy of the ticket and of each control, one row per round."""
    rounds = numbers(curves.get("rounds"))
    if rounds is None:
        return None
    columns = {"sparsity": curves.get("sparsity"), "ticket": curves.get("accuracy"),
               "early stop it": curves.get("early_stop_iteration")}
    for control in ("reinit", "random_mask"):
        if isinstance(curves.get(control), dict):
            columns[control] = curves[control].get("accuracy")
    per_layer = curves.get("sparsity_per_layer")
    if isinstance(per_layer, dict):
        columns.update({f"sparsity {layer}": values for layer, values in per_layer.items()})
    present: dict[str, list[float]] = {}
    for key, raw in columns.items():
        values = numbers(raw)
        if values is not None:
            present[key] = values
    rows = []
    for i, r in enumerate(rounds):
        rows.append([int(r), *(v[i] if i < len(v) else None for v in present.values())])
    return Table(["round", *present], rows)


def panels(curves: dict[str, Any]) -> list[Panel]:
    out: list[Panel] = []
    rounds = numbers(curves.get("rounds"))
    if rounds is not None:
        lines = [_line("ticket", rounds, curves.get("accuracy"))]
        for control in ("reinit", "random_mask"):
            if isinstance(curves.get(control), dict):
                lines.append(_line(control, rounds, curves[control].get("accuracy")))
        present = [line for line in lines if line is not None]
        if present:
            out.append(PlotPanel("test accuracy per round: ticket vs controls", "round", "accuracy", present))
        rows = per_round_table(curves)
        if rows is not None:
            out.append(TablePanel("per round", rows))
        concentration = curves.get("concentration")
        if isinstance(concentration, dict):
            layers = {layer: stats for layer, stats in concentration.items() if isinstance(stats, dict)}
            for stat, nulls, title in STATISTICS:
                lines = []
                for layer, stats in layers.items():
                    lines.append(_line(f"{layer}", rounds, stats.get(stat)))
                    null = next((n for n in nulls if n in stats), None)
                    if null is not None:
                        lines.append(_line(f"{layer} {null.replace('_', ' ')}", rounds, stats.get(null)))
                present = [line for line in lines if line is not None]
                if present:
                    out.append(PlotPanel(title, "round", stat.replace("_", " "), present))
            lines = [_line(f"{layer} {label}", rounds, stats.get(key)) for layer, stats in layers.items() for key, label in STRUCTURE]
            present = [line for line in lines if line is not None]
            if present:
                out.append(PlotPanel("units left with no incoming or no outgoing weight", "round", "units", present))
    return out


VIEW = StudyView("lottery", table, panels, "ticket and control accuracy per round, concentration vs its null")
