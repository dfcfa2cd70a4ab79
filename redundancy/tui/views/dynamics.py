"""View of a ``dynamics`` study: per-layer signatures of redundancy over training.

Curves (issue 8): per layer ``{"iteration", "frame_potential", "fp_ratio",
"distance_from_init", "stable_rank", "alpha", "spikes", "mean_angle_to_centre",
"repeated_pairs", "removable_units"}``, possibly nested per width. One panel per
metric with one line per layer, so layers are compared on the same axes.
"""

from __future__ import annotations

from typing import Any

from redundancy.tui.model import Panel, Table
from redundancy.tui.views.base import StudyView, curve_panel, find_curves, numbers, summary_table

X = "iteration"
TITLES = {
    "frame_potential": "frame potential FP(Ŵ)",
    "fp_ratio": "frame potential / tight-frame bound",
    "distance_from_init": "distance from initialization ‖W − Z‖_F",
    "relative_distance_from_init": "distance from init / ‖Z‖_F",
    "stable_rank": "stable rank ‖W‖²_F / ‖W‖²₂",
    "alpha": "power-law exponent α of the spectrum's tail",
    "spikes": "eigenvalues above the Marchenko–Pastur edge",
    "mean_angle_to_centre": "mean angle to the closest K-Means centre",
    "repeated_pairs": "pairs of units with correlated activations",
    "removable_units": "units removable alone (< 0.1 point)",
}


def table(summary: dict[str, Any]) -> Table:
    return summary_table(summary, "layer")


def panels(curves: dict[str, Any]) -> list[Panel]:
    metrics: list[str] = [m for m in TITLES]
    for _, curve in find_curves(curves, X):
        metrics += [k for k in curve if k not in metrics and k != X and numbers(curve[k]) is not None]
    out: list[Panel] = []
    for metric in metrics:
        panel = curve_panel(curves, TITLES.get(metric, metric.replace("_", " ")), X, metric, "iteration", metric)
        if panel is not None:
            out.append(panel)
    return out


VIEW = StudyView("dynamics", table, panels, "per-layer metrics vs training iteration")
