"""View of a ``dynamics`` study: per-layer signatures of redundancy over training.

Curves (issue 8): per layer ``{"iteration", "frame_potential", "fp_ratio",
"distance_from_init", "stable_rank", "alpha", "spikes", "mean_angle_to_centre",
"repeated_pairs", "removable_units"}``, possibly nested per width. One panel per
metric with one line per layer, so layers are compared on the same axes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from redundancy.tui.model import Panel, PlotPanel, Series, Table
from redundancy.tui.source import open_checked
from redundancy.tui.views.base import StudyView, curve_panel, find_curves, numbers, summary_table

X = "iteration"
TITLES = {
    "frame_potential": "frame potential FP(Ŵ)",
    "fp_ratio": "frame potential / tight-frame bound",
    "distance_from_init": "distance from initialization ‖W − Z‖_F",
    "relative_distance": "distance from init relative to ‖Z‖_F",
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


# Units drawn per layer in the trajectory panel: enough to see paths converge, few enough to read.
TRAJECTORY_UNITS = 16


def trajectories(path: Path) -> list[Panel]:
    """Each layer's ``results/<layer>/trajectory/points`` (checkpoints × units × 2, a PCA of the
    units' normalized weight vectors over training): one path per unit, from start to end."""
    out: list[Panel] = []
    with open_checked(path) as f:
        results = f.get("results")
        if not isinstance(results, h5py.Group):
            return out
        for layer, group in results.items():
            points = group.get("trajectory/points") if isinstance(group, h5py.Group) else None
            if not isinstance(points, h5py.Dataset) or points.ndim != 3 or points.shape[2] != 2:
                continue
            shown = min(TRAJECTORY_UNITS, points.shape[1])
            xy = np.asarray(points[:, :shown, :], dtype=float)  # (checkpoints, units, 2)
            lines = [Series(f"{layer} unit {i}", xy[:, i, 0].tolist(), xy[:, i, 1].tolist()) for i in range(shown)]
            title = f"{layer}: PCA trajectory of {shown} of {points.shape[1]} units' directions over training"
            out.append(PlotPanel(title, "PC 1", "PC 2", lines))
    return out


VIEW = StudyView("dynamics", table, panels, "per-layer metrics vs training iteration, unit trajectories", trajectories)
