"""View of a ``dynamics`` study: per-layer signatures of redundancy over training.

Its typed curves (``docs/results.md``) are one per layer, ``x = iteration``,
with a series per metric. One panel per metric with one line per layer, so
layers are compared on the same axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redundancy.store import layout as L
from redundancy.store.keys import split_tensor_path, tensor_path
from redundancy.store.reader import ReadError, StageRecord, dataset_names, read_tensors
from redundancy.store.results import Results
from redundancy.tui.model import Panel, PlotPanel, Series, Table
from redundancy.tui.views.base import StudyView, curve_panel, numbers, screen_table

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
    return screen_table(summary, "layer")


def panels(results: Results) -> list[Panel]:
    metrics: list[str] = [m for m in TITLES]
    for curve in results.curves:
        metrics += [k for k in curve.ys() if k not in metrics and numbers(curve.series[k]) is not None]
    out: list[Panel] = []
    for metric in metrics:
        panel = curve_panel(results.curves, TITLES.get(metric, metric.replace("_", " ")), metric, "iteration", metric)
        if panel is not None:
            out.append(panel)
    return out


# Units drawn per layer in the trajectory panel: enough to see paths converge, few enough to read.
TRAJECTORY_UNITS = 16


def trajectories(rec: StageRecord) -> list[Panel]:
    """Each layer's PCA trajectory of its units' normalized weight vectors over training
    (checkpoints × units × 2, a result tensor of the stage): one path per unit, start to end."""
    out: list[Panel] = []
    for layer in _layers(rec):
        try:
            (points,) = read_tensors(rec, L.RESULTS, [tensor_path(layer, "trajectory", "points")]).values()
        except (ReadError, KeyError):
            continue
        if points.ndim != 3 or points.shape[2] != 2:
            continue
        shown = min(TRAJECTORY_UNITS, points.shape[1])
        xy = np.asarray(points[:, :shown, :], dtype=float)  # (checkpoints, units, 2)
        lines = [Series(f"{layer} unit {i}", xy[:, i, 0].tolist(), xy[:, i, 1].tolist()) for i in range(shown)]
        title = f"{layer}: PCA trajectory of {shown} of {points.shape[1]} units' directions over training"
        out.append(PlotPanel(title, "PC 1", "PC 2", lines))
    return out


def _layers(rec: StageRecord) -> list[str]:
    """The layers a dynamics stage studied, from the first part of its result tensors' names."""
    parts = [split_tensor_path(n) for n in dataset_names(rec, L.RESULTS)]
    return list(dict.fromkeys(p[0] for p in parts if len(p) == 3 and p[1:] == ("trajectory", "points")))


VIEW = StudyView("dynamics", table, panels, "per-layer metrics vs training iteration, unit trajectories", trajectories)
