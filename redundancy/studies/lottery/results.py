"""The lottery study's typed results: accuracy per round for the ticket and its controls, and concentration per layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redundancy.store.results import ACCURACY, Curve, KindSchema, Metric, Results, Row, is_list


LOTTERY_KEY = ("variant", "layer", "direction")
LOTTERY_VARIANTS = ("ticket", "reinit", "random_mask")


def decode_lottery(summary: Any, curves: Any, config: Mapping[str, Any]) -> Results:
    out_curves: list[Curve] = []
    if isinstance(curves, Mapping):
        rounds = curves.get("rounds") if is_list(curves.get("rounds")) else None
        for variant in LOTTERY_VARIANTS:
            raw = curves if variant == "ticket" else curves.get(variant)
            if not isinstance(raw, Mapping) or not is_list(raw.get("accuracy")):
                continue
            n = len(raw["accuracy"])
            series: dict[str, list[Any]] = {"round": list(rounds) if rounds is not None else list(range(n))}
            if is_list(curves.get("sparsity")):
                series["sparsity"] = curves["sparsity"]
            for k in ("accuracy", "early_stop_accuracy", "early_stop_iteration"):
                if is_list(raw.get(k)):
                    series[k] = raw[k]
            out_curves.append(Curve({"variant": variant, "layer": None, "direction": None}, "round", series))
        per_layer = curves.get("sparsity_per_layer") if isinstance(curves.get("sparsity_per_layer"), Mapping) else {}
        concentration = curves.get("concentration") if isinstance(curves.get("concentration"), Mapping) else {}
        for layer, stats in concentration.items():
            if not isinstance(stats, Mapping):
                continue
            for direction, raw in (("incoming", stats), ("outgoing", stats.get("outgoing"))):
                if not isinstance(raw, Mapping):
                    continue
                series = {k: v for k, v in raw.items() if is_list(v)}
                n = max((len(v) for v in series.values()), default=0)
                series = {"round": list(rounds) if rounds is not None else list(range(n)), **series}
                if direction == "incoming":
                    if is_list(per_layer.get(layer)):
                        series["sparsity"] = per_layer[layer]
                    spear = stats.get("spearman")
                    if isinstance(spear, Mapping):
                        series.update({f"spearman_{k}": v for k, v in spear.items() if is_list(v)})
                out_curves.append(Curve({"variant": None, "layer": str(layer), "direction": direction}, "round", series))
    rows: list[Row] = []
    scalars: dict[str, Any] = {}
    if isinstance(summary, Mapping):
        for name, values in summary.items():
            if isinstance(values, Mapping):
                rows.append(Row({"variant": None, "layer": str(name), "direction": "incoming"}, dict(values)))
            elif name == "pruned %" or str(name).endswith(" acc %"):
                continue  # display strings of 0.1; the curves hold the numbers
            else:
                scalars[str(name)] = values
    return Results("lottery", rows, out_curves, scalars)


METRICS = (
    Metric("sparsity", "fraction of the layer's weights pruned after the last round", "fraction, 0–1"),
    Metric("p_value", "p-value of the test that surviving weights concentrate on few units more than a hypergeometric null", "probability"),
    Metric("concentrated", "whether p_value < 0.01"),
    Metric("gini", "Gini coefficient of surviving weights per unit (0: even, 1: all on one unit)", "0–1"),
    Metric("null_gini", "the Gini coefficient expected under the null (survivors spread at random)", "0–1"),
    Metric("empty", "units with no surviving incoming weight", "count of units"),
    Metric("expected_empty", "empty units expected under the null", "count of units"),
    Metric("cond_survival", "probability that another weight of a unit survives given one does; about density under the null", "probability"),
    Metric("density", "surviving weights over all weights of the layer", "fraction, 0–1"),
    Metric("disconnected", "units left with no incoming or no outgoing weight", "count of units"),
    Metric("rho_norm", "Spearman's ρ between survivors per unit and the unit's trained weight norm", "−1 to 1"),
    Metric("rho_fp", "Spearman's ρ between survivors per unit and the unit's frame-potential contribution", "−1 to 1"),
    Metric("dense_accuracy", "test accuracy of the dense trained network", ACCURACY),
    Metric("first_round_below_dense", "first pruning round whose ticket is more than 1 accuracy point below the dense network (none: never)", "round"),
    Metric("sparsity_at_first_drop", "fraction of weights pruned at that round", "fraction, 0–1"),
    Metric("pruned %", "percentage of all weights pruned at each round, round 0 first", "percent"),
    Metric("* acc %", "test accuracy at each round, round 0 first: ticket (rewound survivors), reinit (same mask, fresh init), random_mask (random mask of the same sparsity)", "percent of test samples"),
)

SCHEMA = KindSchema("lottery", LOTTERY_KEY, decode_lottery, metrics=METRICS)
