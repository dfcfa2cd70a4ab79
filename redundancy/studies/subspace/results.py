"""The subspace study's typed results: curves over k per (layer, checkpoint, target, basis), and singular values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.store.keys import split_row_part, split_target_row
from redundancy.store.results import ACCURACY, Curve, KindSchema, Metric, Results, Row, is_list, numbers


SUBSPACE_KEY = ("layer", "checkpoint", "iteration", "target", "basis", "rank")
BASES = ("top", "bottom", "random")


def decode_subspace(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves: list[Curve] = []
    extra: dict[tuple[str, Any, str | None], dict[str, Any]] = {}
    if isinstance(curves, Mapping):
        for row_key, row in curves.items():
            if not isinstance(row, Mapping):
                continue
            layer, ref, target = split_target_row(str(row_key))
            rank = row.get("rank") if isinstance(row.get("rank"), int) else None
            base = {"layer": layer, "checkpoint": ref, "iteration": None, "target": target}
            extra[(layer, ref, target)] = {k: row[k] for k in ("accuracy_full", "accuracy_reset") if k in row}
            for basis, raw in row.items():
                if basis in ("singular_values", "accuracy_full", "accuracy_reset", "rank") or not isinstance(raw, Mapping):
                    continue
                series = {k: v for k, v in raw.items() if is_list(v) and k not in ("seeds", "std")}
                if is_list(raw.get("std")):
                    series["accuracy_std"] = raw["std"]
                seeds = {"accuracy": raw["seeds"]} if is_list(raw.get("seeds")) else {}
                out_curves.append(Curve({**base, "basis": basis, "rank": rank}, "k", series, seeds))
            sv = row.get("singular_values")
            if numbers(sv):
                out_curves.append(Curve({**base, "basis": None, "rank": rank}, "index",
                                        {"index": list(range(1, len(sv) + 1)), "singular_value": sv}))
    rows: list[Row] = []
    scalars: dict[str, Any] = {}
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if not isinstance(values, Mapping):
                scalars[str(name)] = values
                continue
            row_key, basis = split_row_part(str(name))
            layer, ref, target = split_target_row(row_key)
            vals = dict(values)
            rank = vals.pop("rank", None)
            rows.append(Row({"layer": layer, "checkpoint": ref, "iteration": None, "target": target, "basis": basis, "rank": rank}, vals))
    return Results("subspace", rows, out_curves, scalars)


METRICS = (
    Metric("rank", "rank of the projected matrix (W − Z for update, W for weights): the largest k", "count of directions"),
    Metric("k_within_1pt", "smallest evaluated k whose projected layer is within 1 accuracy point of the unprojected network (n/a: none)", "count of directions"),
    Metric("k_within_5pt", "smallest evaluated k within 5 accuracy points of the unprojected network (n/a: none)", "count of directions"),
    Metric("acc_k*", "test accuracy with the layer's update projected onto k directions of the basis (random: mean over seeds)", ACCURACY),
    Metric("acc_full", "test accuracy of the unprojected trained network", ACCURACY),
    Metric("acc_reset", "test accuracy at k = 0: the layer at its initialization Z (update) or at zero (weights)", ACCURACY),
    Metric("rho_residual_k*", "alignment ρ of the removed residual R_k with the layer's inputs; 1 for an isotropic random matrix", "ratio"),
    Metric("inputs", "the layer's inputs the alignment is measured on: as they are (uncentred) or minus their mean (centred)"),
    Metric("isotropic", "the isotropic baseline of ρ: a random matrix with isotropic rows has ρ = 1", "ratio"),
    Metric("data_span", "the data-span baseline of ρ: mean over random matrices of the same norm whose rows lie in the span of the layer's inputs", "ratio"),
    Metric("data_span_min", "the smallest ρ among those random data-span matrices", "ratio"),
    Metric("data_span_max", "the largest ρ among those random data-span matrices", "ratio"),
    Metric("rho_update", "alignment ρ of the whole update W − Z with the layer's inputs", "ratio"),
    Metric("rho_weights", "alignment ρ of the trained weights W with the layer's inputs", "ratio"),
    Metric("rho_init", "alignment ρ of the initial weights Z with the layer's inputs (the layer's own baseline)", "ratio"),
    Metric("position_*", "where that ρ sits between the isotropic baseline (0) and the data-span baseline (1), log ρ / log ρ_span", "log-ratio"),
    Metric("share_residual_k*", "the residual's share of the change in pre-activations, ‖R_k Xᵀ‖_F / ‖(W − Z) Xᵀ‖_F", "ratio, 0–1"),
)

SCHEMA = KindSchema("subspace", SUBSPACE_KEY, decode_subspace, metrics=METRICS)
