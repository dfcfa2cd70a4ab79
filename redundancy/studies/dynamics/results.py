"""The dynamics study's typed results: one curve per layer over training iterations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.store.results import ACCURACY, Curve, KindSchema, Metric, Results, Row, is_list


DYNAMICS_KEY = ("layer",)


def decode_dynamics(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves = []
    if isinstance(curves, Mapping):
        for layer, raw in curves.items():
            if isinstance(raw, Mapping) and is_list(raw.get("iteration")):
                out_curves.append(Curve({"layer": str(layer)}, "iteration", {k: v for k, v in raw.items() if is_list(v)}))
    rows, scalars = [], {}
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if isinstance(values, Mapping):
                rows.append(Row({"layer": str(name)}, dict(values)))
            else:
                scalars[str(name)] = values
    return Results("dynamics", rows, out_curves, scalars)


METRICS = (
    Metric("width", "the model's width multiplier", "×"),
    Metric("layers", "the layers measured"),
    Metric("iterations", "the checkpoints measured", "iterations"),
    Metric("probe", "validation inputs the repeated and removable units are measured on", "count of samples"),
    Metric("units", "units of the layer", "count"),
    Metric("fp_start", "frame potential FP(Ŵ) = ‖ŴŴᵀ‖²_F of the unit-normalized weights at initialization", "sum of squared cosines"),
    Metric("fp_end", "frame potential at the last checkpoint", "sum of squared cosines"),
    Metric("fp_ratio_end", "frame potential at the end over its tight-frame bound max(n, n²/d); 1 is as spread as possible", "ratio, ≥ 1"),
    Metric("fp_grew", "whether the frame potential grew from start to end"),
    Metric("distance_end", "distance from initialization ‖W − Z‖_F at the end", "Frobenius norm"),
    Metric("rel_distance_end", "distance from initialization relative to ‖Z‖_F at the end", "ratio"),
    Metric("distance_grew", "whether the distance from initialization grew"),
    Metric("spikes_start", "eigenvalues of W Wᵀ/d beyond the Marchenko–Pastur edge at initialization", "count"),
    Metric("spikes_end", "eigenvalues beyond the Marchenko–Pastur edge at the end", "count"),
    Metric("spikes_grew", "whether the number of spikes grew"),
    Metric("stable_rank_end", "stable rank ‖W‖²_F / ‖W‖²_2 at the end", "effective count of directions"),
    Metric("alpha_end", "power-law exponent α of the eigenvalue tail at the end (n/a: too few eigenvalues)", "exponent"),
    Metric("alpha_status", "whether α could be fitted, and why not"),
    Metric("angle_start", "mean angle of each unit to its closest spherical K-Means centre at initialization", "degrees"),
    Metric("angle_end", "mean angle to the closest centre at the end", "degrees"),
    Metric("clustering_grew", "whether units moved closer to their centres (the mean angle shrank)"),
    Metric("clusters", "number of K-Means centres", "count"),
    Metric("repeated_start", "pairs of units whose outputs correlate with |ρ| above the threshold at initialization", "count of pairs"),
    Metric("repeated_end", "pairs of repeated units at the end", "count of pairs"),
    Metric("repeated_fraction_end", "repeated pairs at the end over all pairs n(n − 1)/2", "fraction, 0–1"),
    Metric("removable_start", "units whose removal alone costs less than the tolerance (0.1 accuracy points) at initialization", "count of units"),
    Metric("removable_end", "removable units at the end", "count of units"),
)

SCHEMA = KindSchema("dynamics", DYNAMICS_KEY, decode_dynamics, metrics=METRICS)
